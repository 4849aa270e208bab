/*
 * Public API of the mapping engine: BaRS message Bundles (as StoredMessage) → HL7 v2 / flat files for the PAS, by
 * declarative FHIRPath rule files in mappings/ (see mappings/README.md).
 *
 *   const registry = loadMappings('mappings');                 // at boot; throws MappingError listing file:line problems
 *   for (const m of registry.select(msg)) deliver(renderMessage(m, msg, { now, controlId }));  // throws MappingError
 */
export { MappingError } from './errors.js';
export { loadLiveMappings, loadMappings, MappingRegistry, type ReloadResult } from './registry.js';
export { messageRenderer, renderMessage, HL7_CONTENT_TYPE, CSV_CONTENT_TYPE, type RenderedOutput, type RenderOptions } from './render.js';
export type { CompiledMapping } from './types.js';
export { RECEIVER_REFERENCE_SYSTEM } from './context.js';
