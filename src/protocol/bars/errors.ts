/*
 * The one error catalogue of the receiver: BaRS HTTP error code → HTTP status → FHIR issue code.
 *
 * Source: BaRS Core 1.5.0 Error-Handling pages and the CodeSystem https://fhir.nhs.uk/CodeSystem/http-error-codes
 * (the OpenAPI 1.4.0 `4XX-BARS`/`5XX-BARS` responses and its REC_ OperationOutcome examples). Receivers use the REC_ prefix; the proxy rewrites any 403
 * to "TLS-MA failure", so access-control refusals are 401 REC_UNAUTHORIZED, never 403.
 */
import { randomUUID } from 'node:crypto';

export type IssueCode =
  | 'invalid'
  | 'structure'
  | 'required'
  | 'value'
  | 'invariant'
  | 'security'
  | 'forbidden'
  | 'processing'
  | 'not-supported'
  | 'duplicate'
  | 'conflict'
  | 'not-found'
  | 'too-costly'
  | 'timeout'
  | 'transient'
  | 'exception'
  | 'no-store'
  | 'throttled';

interface CatalogueEntry {
  readonly status: number;
  readonly issue: IssueCode;
}

/** REC code → HTTP status and the issue code used when a caller gives none. */
export const REC_CODES = {
  REC_BAD_REQUEST: { status: 400, issue: 'invalid' },
  REC_UNAUTHORIZED: { status: 401, issue: 'security' },
  REC_FORBIDDEN: { status: 403, issue: 'forbidden' },
  REC_NOT_FOUND: { status: 404, issue: 'not-found' },
  REC_METHOD_NOT_ALLOWED: { status: 405, issue: 'not-supported' },
  REC_NOT_ACCEPTABLE: { status: 406, issue: 'processing' },
  REC_TIMEOUT: { status: 408, issue: 'timeout' },
  REC_CONFLICT: { status: 409, issue: 'conflict' },
  REC_UNSUPPORTED_MEDIA_TYPE: { status: 415, issue: 'not-supported' },
  REC_UNPROCESSABLE_ENTITY: { status: 422, issue: 'not-supported' },
  // 425 is named in Transactional-integrity/Failure-Scenarios but absent from the CodeSystem (spec §13.3).
  REC_TOO_EARLY: { status: 425, issue: 'duplicate' },
  REC_TOO_MANY_REQUESTS: { status: 429, issue: 'throttled' },
  REC_SERVER_ERROR: { status: 500, issue: 'exception' },
  REC_NOT_IMPLEMENTED: { status: 501, issue: 'not-supported' },
  // The CodeSystem and the sender retry list say REC_UNAVAILABLE; the proxy's own copy says REC_SERVICE_UNAVAILABLE.
  REC_UNAVAILABLE: { status: 503, issue: 'transient' },
} as const satisfies Record<string, CatalogueEntry>;

export type RecCode = keyof typeof REC_CODES;

/** The canonical system; most published examples spell it `Codesystem` (spec §13.1), which config can select. */
export const HTTP_ERROR_CODES_SYSTEM = 'https://fhir.nhs.uk/CodeSystem/http-error-codes';
export const HTTP_ERROR_CODES_SYSTEM_EXAMPLES = 'https://fhir.nhs.uk/Codesystem/http-error-codes';

/** True for either spelling of the error CodeSystem, so we read what other systems send whichever they chose. */
export function isHttpErrorCodeSystem(system: string | undefined): boolean {
  return system !== undefined && system.toLowerCase() === HTTP_ERROR_CODES_SYSTEM.toLowerCase();
}

/**
 * A refusal the receiver answers with an OperationOutcome. `diagnostics` names the element or header at fault
 * and never carries message content (BaRS Diagnostics-Text: "no PII").
 */
export class BarsError extends Error {
  readonly code: RecCode;
  readonly issue: IssueCode;
  readonly status: number;
  readonly expression: string | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: RecCode,
    diagnostics: string,
    options: { issue?: IssueCode; expression?: string; headers?: Record<string, string>; cause?: unknown; status?: number } = {},
  ) {
    super(diagnostics, { cause: options.cause });
    this.name = 'BarsError';
    this.code = code;
    // `status` only where HTTP has a more precise status than the CodeSystem's code (413 for a body too large).
    this.status = options.status ?? REC_CODES[code].status;
    this.issue = options.issue ?? REC_CODES[code].issue;
    this.expression = options.expression;
    this.headers = options.headers ?? {};
  }
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  id: string;
  meta: { profile: string[] };
  issue: Array<{
    severity: 'error';
    code: IssueCode;
    details: { coding: Array<{ system: string; code: RecCode; display: string }> };
    diagnostics: string;
    expression?: string[];
  }>;
}

/** Builds the OperationOutcome of spec §9.1 for a refusal. */
export function operationOutcome(err: BarsError, system: string = HTTP_ERROR_CODES_SYSTEM): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    id: randomUUID(),
    meta: { profile: ['https://fhir.hl7.org.uk/StructureDefinition/UKCore-OperationOutcome'] },
    issue: [
      {
        severity: 'error',
        code: err.issue,
        details: { coding: [{ system, code: err.code, display: `${err.status} - ${err.code}` }] },
        diagnostics: err.message,
        ...(err.expression ? { expression: [err.expression] } : {}),
      },
    ],
  };
}

/** Short constructors for the refusals used most, so call sites read like the IG failure tables. */
export const badRequest = (issue: IssueCode, diagnostics: string, expression?: string): BarsError =>
  new BarsError('REC_BAD_REQUEST', diagnostics, { issue, expression });
export const notFound = (diagnostics: string): BarsError => new BarsError('REC_NOT_FOUND', diagnostics);
export const conflict = (diagnostics: string, expression?: string): BarsError =>
  new BarsError('REC_CONFLICT', diagnostics, { issue: 'conflict', expression });
export const unprocessable = (issue: IssueCode, diagnostics: string, expression?: string): BarsError =>
  new BarsError('REC_UNPROCESSABLE_ENTITY', diagnostics, { issue, expression });
export const unavailable = (diagnostics: string): BarsError => new BarsError('REC_UNAVAILABLE', diagnostics);
