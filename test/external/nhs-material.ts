/*
 * Where NHS England's test material lives inside this repository (test/external/nhs/, origins and licences in its
 * SOURCES.md). Every test, benchmark and helper takes these paths from here, resolved from this file's location, so
 * a clone in any folder runs the same (issue 11); test/unit/self-contained.test.ts fails if any code reaches outside.
 */
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const NHS_MATERIAL_DIR = fileURLToPath(new URL('./nhs/', import.meta.url));

/** The IG's example Bundles, converted from FHIR XML to JSON (derived; see SOURCES.md). */
export const IG_EXAMPLES_DIR = path.join(NHS_MATERIAL_DIR, 'ig-json-converted');

/** The same IG example Bundles as published, in FHIR XML (comments included). */
export const IG_XML_DIR = path.join(NHS_MATERIAL_DIR, 'ig-xml');

/** FHIR package tarballs: BaRS 1.34.0 (snapshots), UK Core STU1 0.5.1, uk.nhsdigital.r4 2.5.0. */
export const FHIR_PACKAGES_DIR = path.join(NHS_MATERIAL_DIR, 'fhir-packages');

/** TKW receiver test catalogue and request templates (derived from NHS England's TKW-x BaRS configuration). */
export const TKW_DIR = path.join(NHS_MATERIAL_DIR, 'tkw');

/** One IG example by file name. */
export const igExample = (file: string): string => path.join(IG_EXAMPLES_DIR, file);

/** The HSCIC ITK HL7 v2.4 specification's ADT^A05 example (CR-separated ER7; see SOURCES.md). */
export const ITK_ADT_A05_EXAMPLE = path.join(NHS_MATERIAL_DIR, 'itk-hl7v2', 'ADT_A05_ADT_A05.hl7');
