// Who the contact is and what they want to learn: editable name and journey, origin and
// campaign, consent with its history, the lead form, the timeline in words, and the LGPD
// actions (export as a file, anonymise after typing the name). Live: `contact:updated`
// refetches it (live/socket.ts), on every attendant's screen.
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useEffect, useState } from "react";
import { api, errorMessage } from "../api/client";
import type { components } from "../api/schema";
import { TIME_ZONE } from "../lib/format";
import { JORNADA, ORIGEM, TIPO, eventoEmPalavras } from "./contatoTextos";

type S = components["schemas"];
type Detalhe = S["ContatoDetalhe"] & {
  nome_perfil?: string | null;
  origem_campanha?: string | null;
  opt_in_status?: boolean;
  opt_in_at?: string | null;
  opt_in_source?: string | null;
};
type Interessado = S["Interessado"] & {
  instrumento_sugerido?: string | null;
  experiencia_musical?: string | null;
  expectativas?: string | null;
};
type EventosPage = S["EventosPage"];
type Pagina = S["AdministradoresPage"];

const quando = new Intl.DateTimeFormat("pt-BR", { timeZone: TIME_ZONE, dateStyle: "short", timeStyle: "short" });
const fmt = (iso: string | null | undefined) => (iso ? quando.format(new Date(iso)) : "—");

export const contatoKey = (id: string) => ["contato", id] as const;
export const eventosKey = (id: string) => ["contato-eventos", id] as const;

export function ContatoPainel({ id, titulo = "h2" }: { id: string; titulo?: "h2" | "h3" }) {
  const contato = useQuery({ queryKey: contatoKey(id), queryFn: () => api<Detalhe>(`/contatos/${id}`) });
  const H = titulo;
  if (contato.isError) return <p role="alert" className="erro">{errorMessage(contato.error)}</p>;
  const c = contato.data;
  if (!c) return <p>Carregando contato…</p>;
  const nome = c.nome_exibicao; // never empty: name, profile name, @username or phone
  return (
    <div className="contato-painel" aria-label={`Contato ${c.anonimizado ? "anonimizado" : nome}`} role="region">
      <H className="contato-nome">{c.anonimizado ? "Contato anonimizado" : nome}</H>
      <dl className="ficha">
        <div>
          <dt>Telefone</dt>
          <dd>{c.telefone ?? "sem telefone"}{c.username ? ` · @${c.username}` : ""}</dd>
        </div>
        <div>
          <dt>Nome no perfil do WhatsApp</dt>
          <dd>{c.nome_perfil || "—"}</dd>
        </div>
        <div>
          <dt>Origem</dt>
          <dd>
            {ORIGEM[c.origem] ?? c.origem}
            {c.origem_campanha ? ` · campanha ${c.origem_campanha}` : ""}
          </dd>
        </div>
        <div>
          <dt>Consentimento</dt>
          <dd>{c.opt_in_status ? `Aceita mensagens (desde ${fmt(c.opt_in_at)}${c.opt_in_source ? `, via ${c.opt_in_source}` : ""})` : "Sem opt-in ativo"}</dd>
        </div>
      </dl>
      {c.anonimizado ? (
        <p className="aviso">Os dados pessoais deste contato foram apagados a pedido do titular.</p>
      ) : (
        <>
          <EditarContato c={c} />
          <FichaInteressado id={id} interessado={(c.interessado ?? null) as Interessado | null} nomeContato={nome} />
          <Lgpd id={id} nome={c.nome || c.nome_perfil || ""} />
        </>
      )}
      <Linha id={id} />
    </div>
  );
}

function EditarContato({ c }: { c: Detalhe }) {
  const client = useQueryClient();
  const [nome, setNome] = useState(c.nome ?? "");
  const [tipo, setTipo] = useState<string>(c.tipo);
  const [jornada, setJornada] = useState<string>(c.estado_jornada);
  // Another attendant's edit arrives live: follow it while this form is not being edited.
  const [sujo, setSujo] = useState(false);
  useEffect(() => {
    if (!sujo) {
      setNome(c.nome ?? "");
      setTipo(c.tipo);
      setJornada(c.estado_jornada);
    }
  }, [c.nome, c.tipo, c.estado_jornada, sujo]);
  const salvar = useMutation({
    mutationFn: () => api(`/contatos/${c.id}`, { method: "PATCH", body: { nome: nome.trim() || undefined, tipo, estado_jornada: jornada } }),
    onSuccess: () => {
      setSujo(false);
      void client.invalidateQueries({ queryKey: contatoKey(c.id) });
      void client.invalidateQueries({ queryKey: eventosKey(c.id) });
    },
  });
  const enviar = (e: FormEvent) => {
    e.preventDefault();
    salvar.mutate();
  };
  return (
    <form className="form-grade" onSubmit={enviar} aria-label="Dados do contato" onChange={() => setSujo(true)}>
      <label>
        Nome do contato <input value={nome} onChange={(e) => setNome(e.target.value)} maxLength={200} />
      </label>
      <label>
        Tipo
        <select value={tipo} onChange={(e) => setTipo(e.target.value)}>
          {Object.entries(TIPO).map(([v, t]) => (
            <option key={v} value={v}>
              {t}
            </option>
          ))}
        </select>
      </label>
      <label>
        Estado da jornada
        <select value={jornada} onChange={(e) => setJornada(e.target.value)}>
          {Object.entries(JORNADA).map(([v, t]) => (
            <option key={v} value={v}>
              {t}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" disabled={salvar.isPending}>
        Salvar contato
      </button>
      {salvar.isError && <p role="alert" className="erro">{errorMessage(salvar.error)}</p>}
    </form>
  );
}

function FichaInteressado({ id, interessado, nomeContato }: { id: string; interessado: Interessado | null; nomeContato: string }) {
  const client = useQueryClient();
  const vazio = {
    nome: nomeContato,
    idade: "",
    instrumento_desejado: "",
    instrumento_sugerido: "",
    experiencia_musical: "",
    expectativas: "",
    disponibilidade_horario: false,
    compativel: true,
  };
  const deFicha = (i: Interessado | null) =>
    i
      ? {
          nome: i.nome,
          idade: String(i.idade),
          instrumento_desejado: i.instrumento_desejado,
          instrumento_sugerido: i.instrumento_sugerido ?? "",
          experiencia_musical: i.experiencia_musical ?? "",
          expectativas: i.expectativas ?? "",
          disponibilidade_horario: i.disponibilidade_horario,
          compativel: i.compativel,
        }
      : vazio;
  const [f, setF] = useState(deFicha(interessado));
  const [sujo, setSujo] = useState(false);
  const chave = JSON.stringify(interessado);
  useEffect(() => {
    if (!sujo) setF(deFicha(interessado));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [chave, sujo]);
  const campo = <K extends keyof typeof f>(k: K, v: (typeof f)[K]) => {
    setSujo(true);
    setF((x) => ({ ...x, [k]: v }));
  };
  const salvar = useMutation({
    mutationFn: () =>
      api(`/contatos/${id}/interessado`, {
        method: "PUT",
        body: {
          nome: f.nome,
          idade: Number(f.idade),
          instrumento_desejado: f.instrumento_desejado,
          instrumento_sugerido: f.instrumento_sugerido || null,
          experiencia_musical: f.experiencia_musical || null,
          expectativas: f.expectativas || null,
          disponibilidade_horario: f.disponibilidade_horario,
          compativel: f.compativel,
        },
      }),
    onSuccess: () => {
      setSujo(false);
      void client.invalidateQueries({ queryKey: contatoKey(id) });
      void client.invalidateQueries({ queryKey: eventosKey(id) });
    },
  });
  const enviar = (e: FormEvent) => {
    e.preventDefault();
    salvar.mutate();
  };
  return (
    <details className="interessado" open={Boolean(interessado)}>
      <summary>Ficha de interessado{interessado ? `: ${interessado.instrumento_desejado}, ${interessado.idade} anos` : " (não preenchida)"}</summary>
      <form className="form-grade" onSubmit={enviar} aria-label="Ficha de interessado">
        <label>
          Nome do aluno <input value={f.nome} onChange={(e) => campo("nome", e.target.value)} required maxLength={200} />
        </label>
        <label>
          Idade <input type="number" min={3} max={120} value={f.idade} onChange={(e) => campo("idade", e.target.value)} required />
        </label>
        <label>
          Instrumento desejado <input value={f.instrumento_desejado} onChange={(e) => campo("instrumento_desejado", e.target.value)} required maxLength={100} />
        </label>
        <label>
          Instrumento sugerido <input value={f.instrumento_sugerido} onChange={(e) => campo("instrumento_sugerido", e.target.value)} maxLength={100} />
        </label>
        <label>
          Experiência musical <textarea value={f.experiencia_musical} onChange={(e) => campo("experiencia_musical", e.target.value)} maxLength={2000} rows={2} />
        </label>
        <label>
          Expectativas <textarea value={f.expectativas} onChange={(e) => campo("expectativas", e.target.value)} maxLength={2000} rows={2} />
        </label>
        <label className="caixa">
          <input type="checkbox" checked={f.disponibilidade_horario} onChange={(e) => campo("disponibilidade_horario", e.target.checked)} /> Tem disponibilidade de horário
        </label>
        <label className="caixa">
          <input type="checkbox" checked={f.compativel} onChange={(e) => campo("compativel", e.target.checked)} /> Perfil compatível com a escola
        </label>
        <button type="submit" disabled={salvar.isPending}>
          Salvar ficha
        </button>
        {salvar.isError && <p role="alert" className="erro">{errorMessage(salvar.error)}</p>}
      </form>
    </details>
  );
}

type ExportPage = S["ExportOut"] & { mensagens?: unknown[] };

async function exportarTudo(id: string): Promise<ExportPage> {
  const primeira = await api<ExportPage>(`/contatos/${id}/export`);
  const tudo: ExportPage = { ...primeira, mensagens: [...(primeira.mensagens ?? [])] };
  let cursor = primeira.next_cursor ?? null;
  while (cursor) {
    const pagina = await api<ExportPage>(`/contatos/${id}/export?cursor=${encodeURIComponent(cursor)}`);
    tudo.mensagens!.push(...(pagina.mensagens ?? []));
    cursor = pagina.next_cursor ?? null;
  }
  tudo.next_cursor = null;
  return tudo;
}

function Lgpd({ id, nome }: { id: string; nome: string }) {
  const client = useQueryClient();
  const [abrindo, setAbrindo] = useState(false);
  const [digitado, setDigitado] = useState("");
  const exportar = useMutation({
    mutationFn: () => exportarTudo(id),
    onSuccess: (dados) => {
      const blob = new Blob([JSON.stringify(dados, null, 2)], { type: "application/json" });
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = `contato-${id}.json`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
      void client.invalidateQueries({ queryKey: eventosKey(id) });
    },
  });
  const anonimizar = useMutation({
    mutationFn: () => api(`/contatos/${id}/anonimizar`, { method: "POST", body: { confirmar: true } }),
    onSuccess: () => {
      setAbrindo(false);
      void client.invalidateQueries({ queryKey: contatoKey(id) });
      void client.invalidateQueries({ queryKey: ["contatos"] });
    },
  });
  const esperado = nome.trim();
  const confere = esperado ? digitado.trim() === esperado : digitado.trim().toUpperCase() === "ANONIMIZAR";
  return (
    <section className="lgpd" aria-label="LGPD">
      <div className="botoes">
        <button type="button" className="secundario" onClick={() => exportar.mutate()} disabled={exportar.isPending}>
          {exportar.isPending ? "Exportando…" : "Exportar dados"}
        </button>
        <button type="button" className="perigo" onClick={() => setAbrindo(true)} aria-expanded={abrindo}>
          Anonimizar contato
        </button>
      </div>
      {exportar.isError && <p role="alert" className="erro">{errorMessage(exportar.error)}</p>}
      {abrindo && (
        <form
          className="confirmar"
          aria-label="Confirmar anonimização"
          onSubmit={(e) => {
            e.preventDefault();
            if (confere) anonimizar.mutate();
          }}
        >
          <p>
            <strong>Irreversível.</strong> Apaga nome, telefone, nome do perfil, campanha, a ficha de interessado, o texto e os
            arquivos de todas as mensagens, e encerra as conversas. Ficam, sem identificar a pessoa: datas, direção e tipo das
            mensagens, status de entrega e a categoria de cobrança (para os custos).
          </p>
          <label>
            Para confirmar, digite {esperado ? <strong>{esperado}</strong> : <strong>ANONIMIZAR</strong>}
            <input value={digitado} onChange={(e) => setDigitado(e.target.value)} autoComplete="off" />
          </label>
          <div className="botoes">
            <button type="submit" className="perigo" disabled={!confere || anonimizar.isPending}>
              Anonimizar definitivamente
            </button>
            <button type="button" className="secundario" onClick={() => setAbrindo(false)}>
              Cancelar
            </button>
          </div>
          {anonimizar.isError && <p role="alert" className="erro">{errorMessage(anonimizar.error)}</p>}
        </form>
      )}
    </section>
  );
}

function Linha({ id }: { id: string }) {
  const equipe = useQuery({ queryKey: ["administradores"], queryFn: () => api<Pagina>("/administradores?limit=100") });
  const nomes = Object.fromEntries((equipe.data?.items ?? []).map((a) => [a.id, a.nome]));
  const eventos = useInfiniteQuery({
    queryKey: eventosKey(id),
    queryFn: ({ pageParam }) => api<EventosPage>(`/contatos/${id}/eventos?limit=30${pageParam ? `&cursor=${encodeURIComponent(pageParam)}` : ""}`),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  const itens = (eventos.data?.pages ?? []).flatMap((p) => p.items);
  return (
    <section aria-label="Linha do tempo" className="linha-tempo">
      <h3>Linha do tempo</h3>
      {eventos.isError && <p role="alert" className="erro">{errorMessage(eventos.error)}</p>}
      <ol>
        {itens.map((e) => (
          <li key={e.id}>
            <time dateTime={e.created_at}>{fmt(e.created_at)}</time> {eventoEmPalavras(e, nomes)}
          </li>
        ))}
      </ol>
      {eventos.hasNextPage && (
        <button type="button" className="secundario" onClick={() => void eventos.fetchNextPage()}>
          Ver eventos anteriores
        </button>
      )}
    </section>
  );
}
