/*
 * The delivery flow in a worker process: one ordered lane per destination (lanes.ts), each strictly in order, the
 * lanes in parallel, with the ACK policy of queues/delivery.yaml.
 */
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Config } from '../../config/schema.js';
import type { Destination } from '../../config/destinations.js';
import type { Logger } from '../../logging.js';
import type { Stoppable } from '../../lifecycle.js';
import { countDeliveryAttempts, type Metrics } from '../../metrics.js';
import { startLaneWorkers, type DeadLetterHook } from './lanes.js';
import { loadDeliveryPolicy } from './policy.js';

export async function startDelivery(deps: {
  config: Readonly<Config>;
  redis: Redis;
  destinations: readonly Destination[];
  log: Logger;
  /** Told of every dead letter (the diary: a booking the PAS refused). */
  onDeadLetter?: DeadLetterHook;
  /** Delivery counters (bars_bridge_delivered_total, bars_bridge_delivery_failures_total) of this process. */
  metrics?: Metrics;
}): Promise<Stoppable> {
  const { config, redis, log } = deps;
  const lanes = await startLaneWorkers(
    {
      redis,
      prefix: config.redis.prefix,
      logger: log,
      ...(deps.onDeadLetter ? { onDeadLetter: deps.onDeadLetter } : {}),
      ...(deps.metrics ? { onAttempt: countDeliveryAttempts(deps.metrics) } : {}),
    },
    deps.destinations,
    loadDeliveryPolicy(path.join(config.queuesDir, 'delivery.yaml')),
  );
  log.info({ destinations: lanes.destinations }, 'delivery lanes started');
  return { stop: () => lanes.close() };
}
