// One WebSocket per tab: events go through the pure reducers into the query cache; after a
// reconnect everything is refetched, since events sent while we were away are lost. A frame
// holds a batch of events (frames.ts); an event delivered twice (same id) is applied once.
import type { QueryClient } from "@tanstack/react-query";
import type { ConversaItem, LiveEvent, TemplatesPage } from "../api/types";
import { eventsOf, onlyOnce } from "./frames";
import { type NotasData, reduceNotas } from "./notas";
import { type Filtro, type InboxData, type MensagensData, reduceConversa, reduceInbox, reduceMensagens, reduceTemplates } from "./reducers";

export type ConnectionState = "conectado" | "reconectando";

export function applyEvent(client: QueryClient, event: LiveEvent, meId: string): void {
  if (!isCurrentShape(event)) {
    // An event shape this build does not know: converge by asking the server.
    void client.invalidateQueries();
    return;
  }
  if (event.type === "contact:updated") {
    // Only the id travels: whatever shows this contact asks the server again.
    const id = event.data.contato_id;
    void client.invalidateQueries({ queryKey: ["contato", id] });
    void client.invalidateQueries({ queryKey: ["contato-eventos", id] });
    void client.invalidateQueries({ queryKey: ["contatos"] });
    return;
  }
  for (const [key, data] of client.getQueriesData<InboxData>({ queryKey: ["conversas"] })) {
    const filtro = key[1] as Filtro;
    client.setQueryData(key, reduceInbox(data, event, filtro, meId));
  }
  for (const [key, data] of client.getQueriesData<ConversaItem>({ queryKey: ["conversa"] })) {
    client.setQueryData(key, reduceConversa(data, event));
  }
  for (const [key, data] of client.getQueriesData<MensagensData>({ queryKey: ["mensagens"] })) {
    client.setQueryData(key, reduceMensagens(data, key[1] as string, event));
  }
  for (const [key, data] of client.getQueriesData<NotasData>({ queryKey: ["notas"] })) {
    client.setQueryData(key, reduceNotas(data, key[1] as string, event));
  }
  for (const [key, data] of client.getQueriesData<TemplatesPage>({ queryKey: ["templates"] })) {
    client.setQueryData(key, reduceTemplates(data, event));
  }
}

function isCurrentShape(event: LiveEvent): boolean {
  const data = event.data as Record<string, unknown> | undefined;
  if (!data) return false;
  if (event.type.startsWith("conversation:") && event.type !== "conversation:window_closed") return typeof data.conversa === "object" && data.conversa !== null && "contato" in (data.conversa as object);
  if (event.type === "message:new" || event.type === "message:updated") return typeof data.mensagem === "object";
  return true;
}

export interface LiveSocket {
  close(): void;
}

/** Connect, reconnect with exponential backoff (1 s … 30 s, jittered), refetch after each reconnect. */
export function connectLive(options: {
  url: string;
  token: string;
  client: QueryClient;
  meId: string;
  onState: (state: ConnectionState) => void;
}): LiveSocket {
  let socket: WebSocket | null = null;
  let attempt = 0;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let ping: ReturnType<typeof setInterval> | undefined;
  let everOpened = false;
  const firstTime = onlyOnce();

  const open = () => {
    if (closed) return;
    const ws = new WebSocket(`${options.url}/?token=${encodeURIComponent(options.token)}`);
    socket = ws;
    ws.onopen = () => {
      attempt = 0;
      options.onState("conectado");
      if (everOpened) void options.client.invalidateQueries();
      everOpened = true;
      // Keeps idle proxies from dropping the connection.
      ping = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: "ping" })), 30_000);
    };
    ws.onmessage = (message) => {
      for (const event of eventsOf(String(message.data))) {
        if (firstTime(event)) applyEvent(options.client, event, options.meId);
      }
    };
    ws.onclose = () => {
      clearInterval(ping);
      if (closed) return;
      options.onState("reconectando");
      const delay = Math.min(30_000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
      attempt += 1;
      timer = setTimeout(open, delay);
    };
  };
  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      clearInterval(ping);
      socket?.close();
    },
  };
}
