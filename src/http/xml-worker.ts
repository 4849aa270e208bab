/* The worker thread of xml-pool.ts: one conversion at a time, answered by id. */
import { parentPort } from 'node:worker_threads';
import { fhirJsonToXml, xmlToFhirJson, XmlRefusal } from './fhir-xml.js';

export interface XmlTask {
  readonly id: number;
  readonly op: 'xml-to-json' | 'json-to-xml';
  readonly text: string;
}

export type XmlAnswer =
  | { readonly id: number; readonly text: string }
  | { readonly id: number; readonly refusal: string }
  | { readonly id: number; readonly failure: string };

parentPort!.on('message', (task: XmlTask) => {
  let answer: XmlAnswer;
  try {
    answer = { id: task.id, text: task.op === 'xml-to-json' ? xmlToFhirJson(task.text) : fhirJsonToXml(task.text) };
  } catch (err) {
    answer = err instanceof XmlRefusal ? { id: task.id, refusal: err.message } : { id: task.id, failure: (err as Error).message };
  }
  parentPort!.postMessage(answer);
});
