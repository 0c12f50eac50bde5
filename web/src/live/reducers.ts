// Pure reducers: one live event applied to one cached query's data. No I/O, no React; the
// socket (live/socket.ts) picks the cached queries and hands them here. Unit-tested.
import type { InfiniteData } from "@tanstack/react-query";
import type { ConversaItem, ConversasPage, EventOf, LiveEvent, Mensagem, MensagensPage, TemplatesPage } from "../api/types";

export type InboxData = InfiniteData<ConversasPage, string | null>;
export type MensagensData = InfiniteData<MensagensPage, string | null>;

export type Aba = "todas" | "minhas" | "sem" | "encerradas";
export interface Filtro {
  aba: Aba;
  janela: "" | "aberta" | "fechada";
  busca: string;
}

/** Whether a conversation belongs in the list shown for `filtro`; null when only the server can tell (search). */
export function pertence(conversa: ConversaItem, filtro: Filtro, meId: string): boolean | null {
  if (filtro.aba === "encerradas" && conversa.status !== "encerrada") return false;
  if (filtro.aba !== "encerradas" && filtro.aba !== "todas" && conversa.status !== "ativa") return false;
  if (filtro.aba === "minhas" && conversa.atendente_id !== meId) return false;
  if (filtro.aba === "sem" && conversa.atendente_id !== null) return false;
  if (filtro.janela === "aberta" && !conversa.janela_aberta) return false;
  if (filtro.janela === "fechada" && conversa.janela_aberta) return false;
  return filtro.busca.trim() ? null : true;
}

function withoutConversa(inbox: InboxData, id: string): InboxData {
  return { ...inbox, pages: inbox.pages.map((p) => ({ ...p, items: p.items.filter((c) => c.id !== id) })) };
}

function findConversa(inbox: InboxData, id: string): ConversaItem | undefined {
  for (const page of inbox.pages) {
    const found = page.items.find((c) => c.id === id);
    if (found) return found;
  }
  return undefined;
}

/** Put `conversa` where the server's order (latest activity first) would have it, or drop it. */
export function upsertConversa(inbox: InboxData, conversa: ConversaItem, fica: boolean | null): InboxData {
  const present = findConversa(inbox, conversa.id) !== undefined;
  if (fica === null) fica = present; // a search: keep what the server matched, add nothing
  const rest = withoutConversa(inbox, conversa.id);
  if (!fica) return rest;
  const pages = rest.pages.map((p) => ({ ...p, items: [...p.items] }));
  const key = new Date(conversa.ultima_atividade_em).getTime();
  for (const [index, page] of pages.entries()) {
    const at = page.items.findIndex((c) => new Date(c.ultima_atividade_em).getTime() <= key);
    const last = index === pages.length - 1;
    if (at >= 0 || (last && page.next_cursor === null)) {
      page.items.splice(at >= 0 ? at : page.items.length, 0, conversa);
      return { ...rest, pages };
    }
  }
  if (pages.length === 0) return { pages: [{ items: [conversa], next_cursor: null }], pageParams: [null] };
  return rest; // older than everything loaded: the next page will bring it
}

function patchConversa(inbox: InboxData, id: string, patch: (c: ConversaItem) => ConversaItem): InboxData {
  return { ...inbox, pages: inbox.pages.map((p) => ({ ...p, items: p.items.map((c) => (c.id === id ? patch(c) : c)) })) };
}

function resumo(m: Mensagem): NonNullable<ConversaItem["ultima_mensagem"]> {
  return { id: m.id, direcao: m.direcao, tipo: m.tipo, conteudo: m.conteudo, created_at: m.created_at };
}

// --- inbox: the list of conversations for one filter ---

const inboxReducers: { [T in LiveEvent["type"]]: (inbox: InboxData, e: EventOf<T>, f: Filtro, meId: string) => InboxData } = {
  "message:new": (inbox, e) => {
    const atual = findConversa(inbox, e.data.conversa_id);
    if (!atual) return inbox; // conversation:new / :updated bring it with the server's counts
    const conversa = { ...atual, ultima_mensagem: resumo(e.data.mensagem), ultima_atividade_em: maxIso(atual.ultima_atividade_em, e.data.mensagem.created_at) };
    return upsertConversa(inbox, conversa, true);
  },
  "message:updated": (inbox, e) =>
    patchConversa(inbox, e.data.conversa_id, (c) =>
      c.ultima_mensagem?.id === e.data.mensagem.id ? { ...c, ultima_mensagem: resumo(e.data.mensagem) } : c,
    ),
  "message:status": (inbox) => inbox,
  "conversation:new": (inbox, e, f, me) => upsertConversa(inbox, e.data.conversa, pertence(e.data.conversa, f, me)),
  "conversation:updated": (inbox, e, f, me) => upsertConversa(inbox, e.data.conversa, pertence(e.data.conversa, f, me)),
  "conversation:assigned": (inbox, e, f, me) => upsertConversa(inbox, e.data.conversa, pertence(e.data.conversa, f, me)),
  "conversation:closed": (inbox, e, f, me) => upsertConversa(inbox, e.data.conversa, pertence(e.data.conversa, f, me)),
  "conversation:window_closed": (inbox, e, f, me) => {
    const atual = findConversa(inbox, e.data.conversa_id);
    if (!atual) return inbox;
    const conversa = { ...atual, janela_aberta: false, window_expires_at: e.data.window_expires_at ?? atual.window_expires_at };
    return upsertConversa(inbox, conversa, pertence(conversa, f, me));
  },
  "template:updated": (inbox) => inbox,
  "contact:updated": (inbox) => inbox,
  "note:new": (inbox) => inbox, // notes live in the timeline, not in the inbox's order
};

export function reduceInbox(inbox: InboxData | undefined, event: LiveEvent, filtro: Filtro, meId: string): InboxData | undefined {
  if (!inbox) return inbox;
  const reducer = inboxReducers[event.type] as (i: InboxData, e: LiveEvent, f: Filtro, m: string) => InboxData;
  return reducer(inbox, event, filtro, meId);
}

// --- one conversation's header data ---

export function reduceConversa(conversa: ConversaItem | undefined, event: LiveEvent): ConversaItem | undefined {
  if (!conversa) return conversa;
  switch (event.type) {
    case "conversation:new":
    case "conversation:updated":
    case "conversation:assigned":
    case "conversation:closed":
      return event.data.conversa.id === conversa.id ? event.data.conversa : conversa;
    case "conversation:window_closed":
      return event.data.conversa_id === conversa.id
        ? { ...conversa, janela_aberta: false, window_expires_at: event.data.window_expires_at ?? conversa.window_expires_at }
        : conversa;
    case "message:new":
      return event.data.conversa_id === conversa.id
        ? { ...conversa, ultima_mensagem: resumo(event.data.mensagem), ultima_atividade_em: maxIso(conversa.ultima_atividade_em, event.data.mensagem.created_at) }
        : conversa;
    default:
      return conversa;
  }
}

// --- one conversation's messages (pages newest first, as the API gives them) ---

export const PENDING_PREFIX = "pendente:";

type StatusEnvio = Mensagem["status_envio"];
const STATUS_ORDER: StatusEnvio[] = ["pendente", "enviada", "entregue", "lida", "reproduzida"];

/** A status never goes back (a late "delivered" after "read"); a failure always shows. */
export function statusSeguinte(atual: StatusEnvio, novo: StatusEnvio): StatusEnvio {
  if (novo === "falhou" || atual === "falhou") return novo === "falhou" ? novo : atual;
  return STATUS_ORDER.indexOf(novo) >= STATUS_ORDER.indexOf(atual) ? novo : atual;
}

function hasMensagem(data: MensagensData, id: string): boolean {
  return data.pages.some((p) => p.items.some((m) => m.id === id));
}

function mapMensagens(data: MensagensData, f: (m: Mensagem) => Mensagem): MensagensData {
  return { ...data, pages: data.pages.map((p) => ({ ...p, items: p.items.map(f) })) };
}

/** Insert or replace a message; an echo of our own pending send replaces the pending bubble. */
export function upsertMensagem(data: MensagensData, mensagem: Mensagem, pendingId?: string): MensagensData {
  let base = data;
  if (pendingId) {
    base = { ...base, pages: base.pages.map((p) => ({ ...p, items: p.items.filter((m) => m.id !== pendingId) })) };
  }
  if (hasMensagem(base, mensagem.id)) return mapMensagens(base, (m) => (m.id === mensagem.id ? keepStatus(m, mensagem) : m));
  if (!pendingId && mensagem.direcao === "saida") {
    // The live echo may beat the POST's answer: fold it into the matching pending bubble.
    const pending = base.pages.flatMap((p) => p.items).find((m) => m.id.startsWith(PENDING_PREFIX) && m.tipo === mensagem.tipo && m.conteudo === mensagem.conteudo);
    if (pending) return upsertMensagem(base, mensagem, pending.id);
  }
  const [first, ...rest] = base.pages;
  if (!first) return { pages: [{ items: [mensagem], next_cursor: null }], pageParams: [null] };
  return { ...base, pages: [{ ...first, items: [mensagem, ...first.items] }, ...rest] };
}

function keepStatus(antiga: Mensagem, nova: Mensagem): Mensagem {
  return { ...antiga, ...nova, status_envio: statusSeguinte(antiga.status_envio, nova.status_envio) };
}

export function reduceMensagens(data: MensagensData | undefined, conversaId: string, event: LiveEvent): MensagensData | undefined {
  if (!data) return data;
  switch (event.type) {
    case "message:new":
    case "message:updated":
      return event.data.conversa_id === conversaId ? upsertMensagem(data, event.data.mensagem) : data;
    case "message:status": {
      const e = event.data;
      if (e.conversa_id !== conversaId) return data;
      return mapMensagens(data, (m) =>
        m.id === e.mensagem_id ? { ...m, status_envio: statusSeguinte(m.status_envio, e.status_envio), erro: e.erro ?? (m as { erro?: unknown }).erro ?? null } : m,
      );
    }
    default:
      return data;
  }
}

// --- templates ---

export function reduceTemplates(data: TemplatesPage | undefined, event: LiveEvent): TemplatesPage | undefined {
  if (!data || event.type !== "template:updated") return data;
  const t = event.data.template;
  const present = data.items.some((x) => x.id === t.id);
  return { ...data, items: present ? data.items.map((x) => (x.id === t.id ? t : x)) : [...data.items, t] };
}

function maxIso(a: string, b: string): string {
  return new Date(a).getTime() >= new Date(b).getTime() ? a : b;
}
