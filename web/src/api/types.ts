// Names for the generated contract types (src/api/schema.d.ts, `npm run gen:types`).
import type { components } from "./schema";

type S = components["schemas"];
export type ConversaItem = S["ConversaItem"];
export type Mensagem = S["Mensagem"];
export type ConversasPage = S["ConversasPage"];
export type MensagensPage = S["MensagensPage"];
export type Template = S["Template"];
export type TemplatesPage = S["TemplatesPage"];
export type Administrador = S["Administrador"];
export type LoginOut = S["LoginOut"];
export type EnviarTexto = S["EnviarTexto"];
export type EnviarMedia = S["EnviarMedia"];
export type EnviarTemplate = S["EnviarTemplate"];
export type EnviarMensagemOut = S["EnviarMensagemOut"];
export type MediaUploadIn = S["MediaUploadIn"];
export type MediaUploadOut = S["MediaUploadOut"];
export type ApiErrorBody = S["Error"];

export type LiveEvent = S["LiveEvent"];
export type LiveBatch = S["LiveBatch"];
export type LiveEventType = LiveEvent["type"];
export type EventOf<T extends LiveEventType> = Extract<LiveEvent, { type: T }>;

// Issue 13: attendance depth.
export type Nota = S["Nota"];
export type EnviarReacao = S["EnviarReacao"];
export type RespostaRapida = S["RespostaRapida"];
export type RespostasRapidasOut = S["RespostasRapidasOut"];
export type ConfiguracoesOut = S["ConfiguracoesOut"];
export type ConfiguracoesIn = S["ConfiguracoesIn"];
export type MetricasOut = S["MetricasOut"];
