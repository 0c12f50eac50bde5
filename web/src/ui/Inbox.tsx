import { useInfiniteQuery } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import { Link } from "wouter";
import { api } from "../api/client";
import type { ConversaItem, ConversasPage } from "../api/types";
import { formatQuando, iconeTipo, janelaTexto } from "../lib/format";
import type { Aba, Filtro } from "../live/reducers";
import { useAgora } from "./useAgora";

const ABAS: { aba: Aba; nome: string }[] = [
  { aba: "todas", nome: "Todas" },
  { aba: "minhas", nome: "Minhas" },
  { aba: "sem", nome: "Sem atendente" },
  { aba: "encerradas", nome: "Encerradas" },
];

function query(filtro: Filtro, cursor: string | null): string {
  const params = new URLSearchParams({ limit: "30" });
  if (filtro.aba === "encerradas") params.set("status", "encerrada");
  if (filtro.aba === "minhas") params.set("atendente", "me");
  if (filtro.aba === "sem") {
    params.set("atendente", "nenhum");
    params.set("status", "ativa");
  }
  if (filtro.aba === "minhas") params.set("status", "ativa");
  if (filtro.janela) params.set("janela", filtro.janela);
  if (filtro.busca.trim()) params.set("busca", filtro.busca.trim());
  if (cursor) params.set("cursor", cursor);
  return `/conversas?${params}`;
}

export function nomeContato(c: ConversaItem): string {
  // The API's display name: edited name, WhatsApp profile name, @username or phone; never empty.
  return c.contato.nome_exibicao;
}

/** How to reach the contact on WhatsApp: the phone, or the username of one who hides it. */
export function enderecoContato(c: ConversaItem): string {
  return c.contato.telefone ?? (c.contato.username ? `@${c.contato.username}` : "sem telefone");
}

export function Inbox({ selecionada }: { selecionada: string | null }) {
  const [aba, setAba] = useState<Aba>("todas");
  const [janela, setJanela] = useState<Filtro["janela"]>("");
  const [busca, setBusca] = useState("");
  const [buscaFinal, setBuscaFinal] = useState("");
  useEffect(() => {
    const timer = setTimeout(() => setBuscaFinal(busca), 250);
    return () => clearTimeout(timer);
  }, [busca]);
  const filtro = useMemo<Filtro>(() => ({ aba, janela, busca: buscaFinal }), [aba, janela, buscaFinal]);

  const lista = useInfiniteQuery({
    queryKey: ["conversas", filtro],
    queryFn: ({ pageParam }) => api<ConversasPage>(query(filtro, pageParam)),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  const conversas = lista.data?.pages.flatMap((p) => p.items) ?? [];
  const naoLidas = conversas.reduce((total, c) => total + (c.nao_lidas || 0), 0);
  useEffect(() => {
    document.title = naoLidas > 0 ? `(${naoLidas}) Caixa de entrada` : "Caixa de entrada";
  }, [naoLidas]);
  const agora = useAgora();

  const onScroll = (event: React.UIEvent<HTMLElement>) => {
    const el = event.currentTarget;
    if (el.scrollHeight - el.scrollTop - el.clientHeight < 200 && lista.hasNextPage && !lista.isFetchingNextPage) void lista.fetchNextPage();
  };

  return (
    <section className="inbox" aria-label="Caixa de entrada">
      <div className="filtros">
        <div role="group" aria-label="Filtros" className="abas">
          {ABAS.map((a) => (
            <button key={a.aba} type="button" aria-pressed={aba === a.aba} onClick={() => setAba(a.aba)}>
              {a.nome}
            </button>
          ))}
        </div>
        <div className="linha">
          <label htmlFor="busca" className="sr-only">
            Buscar
          </label>
          <input id="busca" type="search" placeholder="Buscar nome, telefone ou @usuário" value={busca} onChange={(e) => setBusca(e.target.value)} />
          <label htmlFor="janela" className="sr-only">
            Janela
          </label>
          <select id="janela" value={janela} onChange={(e) => setJanela(e.target.value as Filtro["janela"])}>
            <option value="">Qualquer janela</option>
            <option value="aberta">Janela aberta</option>
            <option value="fechada">Janela fechada</option>
          </select>
        </div>
      </div>
      <div className="lista" onScroll={onScroll}>
        {lista.isError && <p role="alert">Não foi possível carregar as conversas.</p>}
        <ul aria-label="Conversas" aria-busy={lista.isFetching}>
          {conversas.map((c) => (
            <li key={c.id} className={c.id === selecionada ? "atual" : undefined}>
              <Link href={`/conversas/${c.id}`} aria-current={c.id === selecionada ? "page" : undefined}>
                <span className="linha1">
                  <strong className="nome">{nomeContato(c)}</strong>
                  <time dateTime={c.ultima_atividade_em}>{formatQuando(c.ultima_atividade_em, agora)}</time>
                </span>
                <span className="linha2">
                  <span className="previa">
                    {c.ultima_mensagem ? `${c.ultima_mensagem.direcao === "saida" ? "Você: " : ""}${iconeTipo((c.ultima_mensagem as { media_type?: string }).media_type ?? c.ultima_mensagem.tipo)} ${c.ultima_mensagem.conteudo}` : "Sem mensagens"}
                  </span>
                  {c.nao_lidas > 0 && (
                    <span className="badge" aria-label={`${c.nao_lidas} não lidas`}>
                      {c.nao_lidas}
                    </span>
                  )}
                </span>
                <span className="linha3">
                  <span>{c.status === "encerrada" ? "Encerrada" : c.atendente ? `Atendente: ${c.atendente.nome}` : "Sem atendente"}</span>
                  <span className={c.janela_aberta ? "janela aberta" : "janela fechada"}>{janelaTexto(c.janela_aberta, c.window_expires_at, agora)}</span>
                  {c.free_entry_point_ate && new Date(c.free_entry_point_ate) > agora && <span className="etiqueta">Anúncio: 72 h grátis</span>}
                </span>
              </Link>
            </li>
          ))}
        </ul>
        {lista.isSuccess && conversas.length === 0 && <p className="vazio">Nenhuma conversa aqui.</p>}
        {lista.hasNextPage && (
          <button type="button" className="mais" onClick={() => void lista.fetchNextPage()} disabled={lista.isFetchingNextPage}>
            Carregar mais conversas
          </button>
        )}
      </div>
    </section>
  );
}
