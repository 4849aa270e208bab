/*
 * The NHS BaRS example Bundles the receiver would accept, and which golden case each becomes. Shared by the golden
 * case generator and the tests that read the examples directly.
 */
import { readFileSync } from 'node:fs';
import type { Bundle, Workflow } from '../../../../src/protocol/bars/types.js';
import { IG_EXAMPLES_DIR } from '../../../external/nhs-material.js';

export const EXAMPLES_DIR = IG_EXAMPLES_DIR;

/** An example: its file, the golden case name, and the mappings it is a case for (workflow override if needed). */
export interface Example {
  readonly file: string;
  readonly name: string;
  readonly mappings: readonly string[];
  readonly workflow?: Workflow;
}

export const EXAMPLES: readonly Example[] = [
  { file: 'referral-request_new_111-to-ED_APP1_REFREQ01.json', name: 'REFREQ01-111-to-ED', mappings: ['referral-new.ref-i12', 'referral-new.adt-a05', 'referral-new.csv'] },
  { file: 'referral-request_new_999-to-CAS_APP3_REFREQ02.json', name: 'REFREQ02-999-to-CAS', mappings: ['referral-new.ref-i12'] },
  { file: 'referral-request_new_GP-to-pharmacy_APP5_REFREQ03.json', name: 'REFREQ03-GP-to-pharmacy', mappings: ['referral-new.ref-i12', 'referral-new.csv'] },
  { file: 'referral-request_new_CAD-out-of-area_APP6_REFREQ04.json', name: 'REFREQ04-CAD-out-of-area', mappings: ['referral-new.ref-i12'] },
  { file: 'referral-request_update_CAD-out-of-area_APP6_REFREQ8B.json', name: 'REFREQ8B-update-no-nhs-number', mappings: ['referral-update.ref-i13'] },
  { file: 'validation-request_new_999-to-CAS_APP4_VALREQ01.json', name: 'VALREQ01-999-to-CAS', mappings: ['referral-new.ref-i12', 'referral-new.csv'] },
  { file: 'validation-request_update_APP4_VALREQ02.json', name: 'VALREQ02-update', mappings: ['referral-update.ref-i13'] },
  { file: 'booking-request_new_BOOKREQ01.json', name: 'BOOKREQ01-booking', mappings: ['booking-new.siu-s12'] },
  { file: 'booking-request_new_BOOKREQ01.json', name: 'BOOKREQ01-as-update', mappings: ['booking-update.siu-s14'], workflow: 'booking-update' },
  { file: 'booking-cancel_BOOKREQ02.json', name: 'BOOKREQ02-booking-cancel', mappings: ['booking-cancel.siu-s15'] },
  { file: 'referral-cancel_revoked_SERVREQ01.json', name: 'SERVREQ01-revoked', mappings: ['referral-cancel.ref-i14'] },
  { file: 'referral-cancel_entered-in-error_SERVREQ02.json', name: 'SERVREQ02-entered-in-error', mappings: ['referral-cancel.ref-i14'] },
];

export function readExample(file: string): Bundle {
  return JSON.parse(readFileSync(`${EXAMPLES_DIR}/${file}`, 'utf8')) as Bundle;
}
