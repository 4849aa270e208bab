/*
 * GET /Slot — free/busy slots from this instance's configured schedules (API spec /Slot; IG failure table GET--Slots):
 * `status` required (free, busy; comma separated), `start` exactly twice (ge… and le…, dateTime with offset),
 * `Schedule.actor:HealthcareService` required, `_include` at least Slot:schedule and Schedule:actor:HealthcareService
 * (unsupported includes are ignored and the self link says so). A range wider than the configured maximum → 422
 * too-costly. No slots → 200 with total 0 (TKW SFFSNoSlots_HappyPath).
 */
import { randomUUID } from 'node:crypto';
import type { Config, SlotSchedule } from '../../config/schema.js';
import { SYSTEMS } from '../../protocol/bars/codes.js';
import { SLOT_INCLUDES } from './capability.js';
import { badRequest, notFound, unprocessable } from '../../protocol/bars/errors.js';
import { isUuid } from '../../protocol/bars/headers.js';
import { generateSlots, nameUuid, scheduleIdOf, type GeneratedSlot } from './slots.js';

export const MAX_SLOT_RANGE_DAYS = 14;
const INSTANT_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([+-]\d{2}:\d{2}|Z)$/;

export type SlotQuery = Record<string, string | string[] | undefined>;

const all = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function parseRange(values: string[]): { from: number; to: number } {
  if (values.length === 0) {
    throw badRequest('required', 'The start parameter is required twice: start=ge<instant>&start=le<instant>', 'start');
  }
  if (values.length !== 2) {
    // IG GET--Slots failure table: "Date range was not present" → 400 `required`; a range is exactly one ge and one
    // le value (TKW SFFSWithOneStartDate / SFFSWithThreeStartDates expect IssueCodeRequired).
    throw badRequest('required', 'The start parameter must be given exactly twice, once with ge and once with le', 'start');
  }
  let from: number | undefined;
  let to: number | undefined;
  for (const v of values) {
    const prefix = v.slice(0, 2);
    const instant = v.slice(2);
    if (!INSTANT_WITH_OFFSET.test(instant)) {
      throw badRequest('value', 'start values must be dateTimes with a UTC offset, e.g. ge2026-11-24T09:00:00+00:00', 'start');
    }
    const ms = Date.parse(instant);
    if (!Number.isFinite(ms)) {
      throw badRequest('value', 'start value is not a valid dateTime', 'start');
    }
    if (prefix === 'ge' || prefix === 'gt') {
      from = ms;
    } else if (prefix === 'le' || prefix === 'lt') {
      to = ms;
    } else {
      throw badRequest('value', 'start values must begin with ge or le', 'start');
    }
  }
  if (from === undefined || to === undefined || to < from) {
    throw badRequest('value', 'start must give a range: one ge value and one later le value', 'start');
  }
  if (to - from > MAX_SLOT_RANGE_DAYS * 24 * 3600_000) {
    throw unprocessable('too-costly', `The start range may span at most ${MAX_SLOT_RANGE_DAYS} days`, 'start');
  }
  return { from, to };
}

function scheduleResources(schedule: SlotSchedule, config: Readonly<Config>, includes: ReadonlySet<string>): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  const scheduleId = scheduleIdOf(schedule);
  const locationId = nameUuid(`location:${schedule.healthcareService}`);
  const orgId = nameUuid(`organization:${config.service.odsCode}`);
  const roleId = schedule.practitionerRole ?? nameUuid(`role:${schedule.healthcareService}`);
  const actors: Array<{ reference: string }> = [{ reference: `HealthcareService/${schedule.healthcareService}` }];
  if (schedule.practitionerRole) {
    actors.push({ reference: `PractitionerRole/${roleId}` });
  }
  out.push({ resourceType: 'Schedule', id: scheduleId, active: true, actor: actors });
  if (includes.has('Schedule:actor:HealthcareService')) {
    out.push({
      resourceType: 'HealthcareService',
      id: schedule.healthcareService,
      ...(schedule.dosServiceId ? { identifier: [{ system: SYSTEMS.dosServiceId, value: schedule.dosServiceId }] } : {}),
      active: true,
      name: schedule.healthcareServiceName,
      providedBy: { reference: `Organization/${orgId}` },
      location: [{ reference: `Location/${locationId}` }],
    });
  }
  if (includes.has('HealthcareService:location')) {
    out.push({
      resourceType: 'Location',
      id: locationId,
      name: schedule.locationName,
      ...(schedule.locationPostcode ? { address: { postalCode: schedule.locationPostcode } } : {}),
    });
  }
  if (includes.has('HealthcareService:providedBy')) {
    out.push({
      resourceType: 'Organization',
      id: orgId,
      identifier: [{ system: SYSTEMS.odsOrganizationCode, value: config.service.odsCode }],
      name: config.service.name,
    });
  }
  if (schedule.practitionerRole && includes.has('Schedule:actor:PractitionerRole')) {
    out.push({ resourceType: 'PractitionerRole', id: roleId, active: true, organization: { reference: `Organization/${orgId}` } });
  }
  return out;
}

/** How many bookings hold each slot, and when that was last known true (ms; absent = now). */
export interface SlotHolders {
  readonly counts: Map<string, number>;
  readonly asOf?: number | undefined;
}

/**
 * Answers a slot search.
 * @param query - the parsed query string.
 * @param holders - how many bookings hold each slot (ours and the PAS's: src/flows/diary/diary.ts).
 */
export async function searchSlots(
  query: SlotQuery,
  config: Readonly<Config>,
  holders: (slots: readonly GeneratedSlot[]) => Promise<SlotHolders>,
): Promise<Record<string, unknown>> {
  const hcsValues = all(query['Schedule.actor:HealthcareService']);
  if (hcsValues.length === 0) {
    throw badRequest('required', 'The Schedule.actor:HealthcareService parameter is required', 'Schedule.actor:HealthcareService');
  }
  const hcs = hcsValues[0]!.replace(/^HealthcareService\//, '');
  // A HealthcareService is named by its logical id (a UUID) or by its DoS service id: NHS England's TKW suite sends
  // the target DoS service id (apply_configs.sh substitutes __HCS__ with the service id; provider_simulator_validator
  // BS-SEARCH-CRITE-SERV-ID: `Schedule.actor%3AHealthcareService=[0-9]+`). Anything else is 400 value; an id of
  // either form that names no schedule here is 404 (IG GET--Slots failure table).
  if (hcsValues.length > 1 || !(isUuid(hcs) || /^\d{1,20}$/.test(hcs))) {
    throw badRequest('value', 'Schedule.actor:HealthcareService must be one HealthcareService id (a UUID) or DoS service id', 'Schedule.actor:HealthcareService');
  }
  const statusValues = all(query.status).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  if (statusValues.length === 0) {
    throw badRequest('required', 'The status parameter is required (free, busy or free,busy)', 'status');
  }
  if (statusValues.some((s) => s !== 'free' && s !== 'busy')) {
    throw badRequest('value', 'status must be free, busy or free,busy', 'status');
  }
  const includes = new Set(all(query._include));
  for (const required of ['Slot:schedule', 'Schedule:actor:HealthcareService']) {
    if (!includes.has(required)) {
      throw badRequest('required', `_include=${required} is required`, '_include');
    }
  }
  const { from, to } = parseRange(all(query.start));
  const schedules = config.slots.filter((s) => s.healthcareService.toLowerCase() === hcs.toLowerCase() || s.dosServiceId === hcs);
  if (schedules.length === 0) {
    throw notFound(`HealthcareService ${hcs} has no schedule at this receiver`);
  }
  const slots: GeneratedSlot[] = schedules.flatMap((s) => generateSlots(s, from, to)).filter((s) => s.startMs >= Date.now() - 5 * 60_000);
  const { counts: taken, asOf } = await holders(slots);
  const wanted = new Set(statusValues);
  const matched = slots
    .map((s) => ({ slot: s, status: (taken.get(s.id) ?? 0) >= s.schedule.capacity ? 'busy' : 'free' }))
    .filter((s) => wanted.has(s.status));

  const supported = [...includes].filter((i) => (SLOT_INCLUDES as readonly string[]).includes(i));
  const entries: Array<Record<string, unknown>> = matched.map(({ slot, status }) => ({
    fullUrl: `${config.service.baseUrl}/Slot/${slot.id}`,
    resource: {
      resourceType: 'Slot',
      id: slot.id,
      ...(slot.schedule.useCases.length > 0
        ? { serviceCategory: [{ coding: slot.schedule.useCases.map((code) => ({ system: SYSTEMS.useCases, code })) }] }
        : {}),
      schedule: { reference: `Schedule/${slot.scheduleId}` },
      status,
      start: slot.start,
      end: slot.end,
      ...(slot.schedule.deliveryChannel
        ? { extension: [{ url: 'https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-DeliveryChannel', valueCode: slot.schedule.deliveryChannel }] }
        : {}),
    },
    search: { mode: 'match' },
  }));
  if (matched.length > 0) {
    for (const schedule of new Set(matched.map((m) => m.slot.schedule))) {
      for (const resource of scheduleResources(schedule, config, includes)) {
        entries.push({ fullUrl: `${config.service.baseUrl}/${resource.resourceType}/${resource.id}`, resource, search: { mode: 'include' } });
      }
    }
  }
  const params = [
    `Schedule.actor:HealthcareService=${encodeURIComponent(hcs)}`,
    ...all(query.start).map((s) => `start=${encodeURIComponent(s)}`),
    `status=${statusValues.join(',')}`,
    ...supported.map((i) => `_include=${encodeURIComponent(i)}`),
  ];
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    // Bundle.meta.lastUpdated: when this answer's occupancy was last known true. A real-time PAS answer is now; an
    // answer from the diary mirror (the PAS query timed out or is not offered) carries the time the PAS last told us
    // anything about this clinic, so a sender (and the logs) can see how stale it is.
    meta: { lastUpdated: new Date(asOf ?? Date.now()).toISOString() },
    type: 'searchset',
    total: matched.length,
    link: [{ relation: 'self', url: `${config.service.baseUrl}/Slot?${params.join('&')}` }],
    ...(entries.length > 0 ? { entry: entries } : {}),
  };
}
