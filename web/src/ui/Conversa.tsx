import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { Fragment, useEffect, useLayoutEffect, useRef, useState } from "react";
import { Link } from "wouter";
import { api, errorMessage } from "../api/client";
import type { ConversaItem, Mensagem, MensagensPage } from "../api/types";
import { chaveDia, formatDia, formatHora, formatTamanho, janelaTexto } from "../lib/format";
import { AcoesContext, AcoesMensagem, citacaoDe, reacaoEnviada } from "./AcoesMensagem";
import { Atendimento } from "./Atendimento";
import { Composer } from "./Composer";
import { ContatoPainel } from "./ContatoPainel";
import { enderecoContato, nomeContato } from "./Inbox";
import { FormNota, NotaInterna, linhaDoTempo, useNotas } from "./Notas";
import { useAgora } from "./useAgora";

export function Conversa({ id, meId }: { id: string; meId: string }) {
  const conversa = useQuery({ queryKey: ["conversa", id], queryFn: () => api<ConversaItem>(`/conversas/${id}`) });
  const mensagens = useInfiniteQuery({
    queryKey: ["mensagens", id],
    queryFn: ({ pageParam }) => api<MensagensPage>(`/conversas/${id}/mensagens?limit=30${pageParam ? `&cursor=${encodeURIComponent(pageParam)}` : ""}`),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  const agora = useAgora();
  const [painel, setPainel] = useState(false);
  const notas = useNotas(id);
  const [respondendo, setRespondendo] = useState<Mensagem | null>(null);
  const [notaAberta, setNotaAberta] = useState(false);

  // Opening (or watching) a conversation with unread messages marks them read.
  const naoLidas = conversa.data?.nao_lidas ?? 0;
  useEffect(() => {
    if (naoLidas > 0) void api(`/conversas/${id}/lida`, { method: "POST" }).catch(() => undefined);
  }, [id, naoLidas]);

  const log = useRef<HTMLDivElement>(null);
  const itens = (mensagens.data?.pages ?? []).flatMap((p) => p.items).slice().reverse();
  const ultimoId = itens[itens.length - 1]?.id;
  const alturaAntes = useRef<number | null>(null);
  useLayoutEffect(() => {
    const el = log.current;
    if (!el) return;
    if (alturaAntes.current !== null) {
      el.scrollTop = el.scrollHeight - alturaAntes.current; // older page above: keep the view still
      alturaAntes.current = null;
    } else {
      el.scrollTop = el.scrollHeight;
    }
  }, [ultimoId, mensagens.data?.pages.length]);

  const carregarAnteriores = () => {
    if (!mensagens.hasNextPage || mensagens.isFetchingNextPage) return;
    alturaAntes.current = log.current ? log.current.scrollHeight - log.current.scrollTop : null;
    void mensagens.fetchNextPage();
  };

  if (conversa.isError) {
    return (
      <section className="conversa">
        <p role="alert">{errorMessage(conversa.error)}</p>
        <Link href="/">Voltar</Link>
      </section>
    );
  }
  const c = conversa.data;
  const acoes = { conversaId: id, podeResponder: !!c && c.status === "ativa" && c.janela_aberta && (c.atendente_id === null || c.atendente_id === meId), responder: setRespondendo };
  const linha = linhaDoTempo(itens, notas, !mensagens.hasNextPage);
  return (
    <AcoesContext.Provider value={acoes}>
    <section className="conversa" aria-labelledby="conversa-titulo">
      <header className="cabecalho">
        <Link href="/" className="voltar" aria-label="Voltar para as conversas">
          ←
        </Link>
        <div>
          <h2 id="conversa-titulo">{c ? nomeContato(c) : "Carregando…"}</h2>
          {c && (
            <p className="detalhes">
              {enderecoContato(c)} · {c.status === "encerrada" ? "Encerrada" : c.atendente ? `Atendente: ${c.atendente.nome}` : "Sem atendente"} ·{" "}
              {janelaTexto(c.janela_aberta, c.window_expires_at, agora)}
            </p>
          )}
        </div>
        {c && <Atendimento conversa={c} meId={meId} />}
        {c && (
          <button type="button" className="secundario" aria-expanded={painel} aria-controls="painel-contato" onClick={() => setPainel((v) => !v)}>
            {painel ? "Fechar contato" : "Ver contato"}
          </button>
        )}
      </header>
      {c && painel && (
        <aside id="painel-contato" className="painel-lateral" aria-label="Painel do contato">
          <ContatoPainel id={c.contato.id} titulo="h3" />
        </aside>
      )}
      <div
        ref={log}
        className="mensagens"
        role="log"
        aria-label="Mensagens"
        tabIndex={0}
        onScroll={(e) => e.currentTarget.scrollTop < 80 && carregarAnteriores()}
      >
        {mensagens.hasNextPage && (
          <button type="button" className="mais" onClick={carregarAnteriores}>
            Carregar mensagens anteriores
          </button>
        )}
        {linha.map((item, i) => {
          const novoDia = i === 0 || chaveDia(linha[i - 1]!.em) !== chaveDia(item.em);
          return (
            <Fragment key={item.tipo === "nota" ? `nota-${item.n.id}` : item.m.id}>
              {novoDia && (
                <p className="dia" role="separator">
                  {formatDia(item.em, agora)}
                </p>
              )}
              {item.tipo === "nota" ? <NotaInterna n={item.n} /> : <Bolha m={item.m} todas={itens} />}
            </Fragment>
          );
        })}
      </div>
      {notaAberta ? (
        <FormNota conversaId={id} onFechar={() => setNotaAberta(false)} />
      ) : (
        <button type="button" className="nova-nota" onClick={() => setNotaAberta(true)}>
          Escrever nota interna
        </button>
      )}
      {c && <Composer conversa={c} meId={meId} respondendo={respondendo} onCancelarResposta={() => setRespondendo(null)} />}
    </section>
    </AcoesContext.Provider>
  );
}

type Extra = {
  media_type?: string | null;
  media_mime?: string | null;
  dados?: Record<string, unknown> | null;
  erro?: { code?: number; title?: string; message?: string } | null;
  reply_to_id?: string | null;
};

function dadosDe(m: Mensagem): Record<string, unknown> {
  const d = (m as Extra).dados;
  return d && typeof d === "object" ? d : {};
}

const TICKS: Record<string, { nome: string; icone: string }> = {
  pendente: { nome: "Enviando", icone: "🕓" },
  enviada: { nome: "Enviada", icone: "✓" },
  entregue: { nome: "Entregue", icone: "✓✓" },
  lida: { nome: "Lida", icone: "✓✓" },
  reproduzida: { nome: "Lida", icone: "✓✓" },
  falhou: { nome: "Falhou", icone: "⚠" },
};

function motivoFalha(m: Mensagem): string | null {
  const erro = (m as Extra).erro;
  if (erro) return erro.message || erro.title || null;
  const errors = dadosDe(m).errors;
  if (Array.isArray(errors) && errors[0] && typeof errors[0] === "object") {
    const e = errors[0] as { title?: string; message?: string; error_data?: { details?: string } };
    return e.error_data?.details || e.message || e.title || null;
  }
  return null;
}

function Bolha({ m, todas }: { m: Mensagem; todas: Mensagem[] }) {
  const saida = m.direcao === "saida";
  const tick = TICKS[m.status_envio];
  const dados = dadosDe(m);
  const citacao = citacaoDe(m);
  const reacao = reacaoEnviada(m);
  const citado = typeof dados.context_id === "string" || typeof (m as Extra).reply_to_id === "string" ? todas.find((x) => x.id === (m as Extra).reply_to_id || (x as { whatsapp_id?: string }).whatsapp_id === dados.context_id) : undefined;
  if (m.tipo === "reacao") {
    return (
      <p className={`reacao ${saida ? "saida" : "entrada"}`}>
        Reagiu com {m.conteudo} <time dateTime={m.created_at}>{formatHora(m.created_at)}</time>
      </p>
    );
  }
  return (
    <article className={`bolha ${saida ? "saida" : "entrada"} ${m.id.startsWith("pendente:") ? "pendente" : ""}`} aria-label={saida ? "Mensagem enviada" : "Mensagem recebida"}>
      {citado && <blockquote className="citacao">{citado.conteudo || "Mensagem"}</blockquote>}
      {!citado && citacao && <blockquote className="citacao">{citacao}</blockquote>}
      <Conteudo m={m} />
      {reacao && (
        <span className="reacao-na-bolha" role="img" aria-label={`Sua reação: ${reacao}`}>
          {reacao}
        </span>
      )}
      <AcoesMensagem m={m} />
      <footer>
        {saida && (m as { enviado_por_nome?: string | null }).enviado_por_nome && <span className="autor">{(m as { enviado_por_nome?: string }).enviado_por_nome}</span>}
        <time dateTime={m.created_at}>{formatHora(m.created_at)}</time>
        {saida && tick && (
          <span role="img" aria-label={tick.nome} title={tick.nome} className={`tick ${m.status_envio}`}>
            {tick.icone}
          </span>
        )}
      </footer>
      {m.status_envio === "falhou" && <p className="falha">Não entregue{motivoFalha(m) ? `: ${motivoFalha(m)}` : "."}</p>}
    </article>
  );
}

function Conteudo({ m }: { m: Mensagem }) {
  const extra = m as Extra;
  const dados = dadosDe(m);
  const tipo = extra.media_type ?? null;
  const media = m.media_url ?? null;
  const texto = m.conteudo ? <p className="texto">{m.conteudo}</p> : null;
  // The media worker records why a download failed (dados.media_error: {code, message}).
  const falhaMidia = dados.media_error as { message?: string } | string | undefined;
  const erroMidia = typeof falhaMidia === "string" ? falhaMidia : (falhaMidia?.message ?? null);
  if (tipo === "location") {
    const loc = (dados.location ?? dados) as { latitude?: number; longitude?: number; name?: string };
    const href = loc.latitude !== undefined ? `https://www.openstreetmap.org/?mlat=${loc.latitude}&mlon=${loc.longitude}#map=17/${loc.latitude}/${loc.longitude}` : null;
    return (
      <div>
        📍 {href ? <a href={href} target="_blank" rel="noreferrer">{loc.name || "Ver localização no mapa"}</a> : "Localização"}
        {texto}
      </div>
    );
  }
  if (tipo && !media) {
    return (
      <div>
        <p className="placeholder">{erroMidia ? erroMidia : "Baixando mídia…"}</p>
        {texto}
      </div>
    );
  }
  if (tipo === "image" && media) {
    return (
      <div>
        <a href={media} target="_blank" rel="noreferrer" aria-label="Abrir imagem em tamanho real">
          <img src={m.thumbnail_url ?? media} alt={m.conteudo || "Imagem recebida"} className="miniatura" loading="lazy" />
        </a>
        {texto}
      </div>
    );
  }
  if (tipo === "audio" && media) return <audio controls src={media} aria-label="Mensagem de voz" />;
  if (tipo === "video" && media) {
    return (
      <div>
        <video controls src={media} aria-label="Vídeo" className="video" />
        {texto}
      </div>
    );
  }
  if (tipo === "document" && media) {
    const info = (typeof dados.media === "object" && dados.media !== null ? dados.media : {}) as { filename?: string; size_bytes?: number };
    const nome = info.filename || (typeof dados.filename === "string" ? dados.filename : "") || "Documento";
    const tamanho = typeof info.size_bytes === "number" ? ` (${formatTamanho(info.size_bytes)})` : "";
    return (
      <div>
        📄 <a href={media} target="_blank" rel="noreferrer">{nome}</a>
        {tamanho}
        {m.conteudo && m.conteudo !== nome && texto}
      </div>
    );
  }
  if (m.tipo === "contatos") return <p className="texto">👤 {m.conteudo || "Cartão de contato"}</p>;
  return texto ?? <p className="texto vazio">(sem texto)</p>;
}
