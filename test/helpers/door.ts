/*
 * The receiver's door and the mappings, in process: a Bundle is validated as `$process-message` validates it (the
 * stateless checks of src/protocol/bars/validate-message.ts with the test receiver's settings), and an accepted one is
 * rendered with every mapping of its workflow (the StoredMessage built as the receiver builds it: receiver ids, our
 * planned Encounter, the validated use case). Used by the property tests: "accepted at the door" must mean "renders for every mapping".
 */
import { loadConfig } from '../../src/config/load.js';
import { BarsError } from '../../src/protocol/bars/errors.js';
import type { Bundle } from '../../src/protocol/bars/types.js';
import { assignIds } from '../../src/protocol/bars/receiver-ids.js';
import { validateMessage, type ValidationContext } from '../../src/protocol/bars/validate-message.js';
import type { MappingRegistry, RenderedOutput } from '../../src/mapping/index.js';
import { renderMessage } from '../../src/mapping/index.js';
import { storedMessageFromBundle } from '../../src/mapping/stored-message.js';
import { TEST_SERVICE_ID } from './harness.js';

const defaults = loadConfig({ NODE_ENV: 'test' }, {});

/** What the test receiver serves (harness.ts): our DoS service id and the default BaRS settings. */
export const DOOR_CONTEXT: ValidationContext = {
  serviceIds: [TEST_SERVICE_ID],
  odsCode: defaults.service.odsCode,
  checkReceiverOds: defaults.service.checkReceiverOds,
  bundleMajors: defaults.bars.bundleMajors,
  useCases: defaults.bars.useCases,
};

export type DoorResult =
  | { readonly accepted: false; readonly error: BarsError }
  | { readonly accepted: true; readonly workflow: string; readonly outputs: ReadonlyArray<{ mappingId: string; output?: RenderedOutput; error?: Error }> };

/** Validates `bundle`; when accepted, renders it with every mapping selected for it (errors kept, not thrown). */
export function throughTheDoor(bundle: Bundle, registry: MappingRegistry): DoorResult {
  let validated;
  try {
    validated = validateMessage(structuredClone(bundle), DOOR_CONTEXT);
  } catch (err) {
    if (err instanceof BarsError) {
      return { accepted: false, error: err };
    }
    throw err;
  }
  const workflow = validated.workflow;
  // The use case as the receiver stores it: the validated one (of the root record, wherever the focus points).
  // Every resource gets a receiver-assigned id, as the receiver gives it before the 200 (receiver-ids.ts).
  const withIds = assignIds(bundle, () => undefined, validated.references);
  const msg = { ...storedMessageFromBundle(withIds, { workflow, reference: 'BB-000123' }), useCase: validated.useCase };
  const outputs = registry.select(msg).map((m) => {
    try {
      return { mappingId: m.id, output: renderMessage(m, msg, { now: new Date('2024-03-01T09:30:05Z'), controlId: 'PROP0001' }) };
    } catch (error) {
      return { mappingId: m.id, error: error as Error };
    }
  });
  return { accepted: true, workflow, outputs };
}
