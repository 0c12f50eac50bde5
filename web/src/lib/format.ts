// Dates and times in the school's zone, whatever the attendant's computer says.
export const TIME_ZONE = "America/Sao_Paulo";

const hora = new Intl.DateTimeFormat("pt-BR", { timeZone: TIME_ZONE, hour: "2-digit", minute: "2-digit" });
const dia = new Intl.DateTimeFormat("pt-BR", { timeZone: TIME_ZONE, day: "2-digit", month: "2-digit", year: "numeric" });
const diaLongo = new Intl.DateTimeFormat("pt-BR", { timeZone: TIME_ZONE, weekday: "long", day: "numeric", month: "long", year: "numeric" });
const diaChave = new Intl.DateTimeFormat("en-CA", { timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit" });

export function formatHora(iso: string): string {
  return hora.format(new Date(iso));
}

/** The inbox's time column: the hour today, the date before. */
export function formatQuando(iso: string, agora: Date = new Date()): string {
  const d = new Date(iso);
  return diaChave.format(d) === diaChave.format(agora) ? hora.format(d) : dia.format(d);
}

/** YYYY-MM-DD in São Paulo: the key of a day separator. */
export function chaveDia(iso: string): string {
  return diaChave.format(new Date(iso));
}

export function formatDia(iso: string, agora: Date = new Date()): string {
  const chave = chaveDia(iso);
  if (chave === diaChave.format(agora)) return "Hoje";
  if (chave === diaChave.format(new Date(agora.getTime() - 86_400_000))) return "Ontem";
  return diaLongo.format(new Date(iso));
}

/** The 24 h window in words: time left, or closed. */
export function janelaTexto(aberta: boolean, expiresAt: string | null | undefined, agora: Date = new Date()): string {
  if (!aberta || !expiresAt) return "Janela fechada";
  const restante = new Date(expiresAt).getTime() - agora.getTime();
  if (restante <= 0) return "Janela fechada";
  const minutos = Math.floor(restante / 60_000);
  const h = Math.floor(minutos / 60);
  const m = minutos % 60;
  if (h === 0) return `Janela: ${m} min restantes`;
  return `Janela: ${h} h ${String(m).padStart(2, "0")} min restantes`;
}

export function formatTamanho(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1).replace(".", ",")} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1).replace(".", ",")} MB`;
}

export interface VariavelTemplate {
  component?: string;
  name: string;
  example?: string | null;
}

/** The body with each {{name}} replaced by its value (or left visible while empty). */
export function previewTemplate(body: string | null, variaveis: VariavelTemplate[], valores: string[]): string {
  if (!body) return "";
  return body.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (all, name: string) => {
    const index = variaveis.findIndex((v) => v.name === name && (v.component ?? "body") === "body");
    const valor = index >= 0 ? valores[index] : undefined;
    return valor ? valor : all;
  });
}

/** Placeholders, in order, from a template's `variables` (unknown shapes are ignored). */
export function variaveisDe(variables: unknown[]): VariavelTemplate[] {
  return variables.filter((v): v is VariavelTemplate => typeof v === "object" && v !== null && typeof (v as { name?: unknown }).name === "string");
}

const ICONES: Record<string, string> = { image: "📷", imagem: "📷", audio: "🎤", video: "🎬", document: "📄", documento: "📄", location: "📍", localizacao: "📍", contacts: "👤", sticker: "🏷️", reaction: "👍", template: "📋" };

export function iconeTipo(tipo: string): string {
  return ICONES[tipo] ?? "";
}
