// Costs in reais: the cost report (/relatorios/custos) as a stacked bar chart (SVG, no library)
// and a table, plus the rate card the estimate comes from (admins add rates).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useId, useState } from "react";
import { api, errorMessage } from "../api/client";
import type { components } from "../api/schema";
import { TIME_ZONE } from "../lib/format";

type CustosOut = components["schemas"]["CustosOut"];
type TarifasOut = components["schemas"]["TarifasOut"];
type Periodo = CustosOut["periodos"][number];

export const CATEGORIAS = ["marketing", "utility", "authentication", "service"] as const;
export const NOME_CATEGORIA: Record<string, string> = {
  marketing: "Marketing",
  utility: "Utilidade",
  authentication: "Autenticação",
  service: "Serviço",
  sem: "Sem categoria",
};
const COR: Record<string, string> = { marketing: "#0b6e4f", utility: "#2f6db5", authentication: "#8a4fb3", service: "#b8731a", sem: "#6b716d" };

const brl = new Intl.NumberFormat("pt-BR", { style: "currency", currency: "BRL", minimumFractionDigits: 2, maximumFractionDigits: 2 });
const brlTarifa = new Intl.NumberFormat("pt-BR", { style: "currency", currency: "BRL", minimumFractionDigits: 4, maximumFractionDigits: 4 });
const mesLongo = new Intl.DateTimeFormat("pt-BR", { month: "short", year: "numeric", timeZone: "UTC" });
const diaCurto = new Intl.DateTimeFormat("pt-BR", { day: "2-digit", month: "2-digit", timeZone: "UTC" });
const diaData = new Intl.DateTimeFormat("pt-BR", { day: "2-digit", month: "2-digit", year: "numeric", timeZone: "UTC" });

export function formatBRL(valor: number): string {
  return brl.format(valor);
}

/** A report's period (YYYY-MM-DD, a São Paulo day or month) in words. */
function rotuloPeriodo(periodo: string, agrupar: "dia" | "mes"): string {
  const d = new Date(`${periodo}T00:00:00Z`);
  return agrupar === "mes" ? mesLongo.format(d) : diaCurto.format(d);
}

function hojeSP(): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone: TIME_ZONE, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
}

function inicioDoMes(dia: string): string {
  return `${dia.slice(0, 7)}-01`;
}

function fimDoMes(dia: string): string {
  const [a, m] = dia.split("-").map(Number) as [number, number];
  const ultimo = new Date(Date.UTC(a, m, 0)).getUTCDate();
  return `${dia.slice(0, 7)}-${String(ultimo).padStart(2, "0")}`;
}

export function Custos({ admin }: { admin: boolean }) {
  const hoje = hojeSP();
  const [de, setDe] = useState(inicioDoMes(hoje));
  const [ate, setAte] = useState(fimDoMes(hoje));
  const [agrupar, setAgrupar] = useState<"dia" | "mes">("dia");
  const dias = de && ate ? (Date.parse(ate) - Date.parse(de)) / 86_400_000 + 1 : 0;
  const problema = !de || !ate ? "Escolha as duas datas." : dias < 1 ? "A data inicial é posterior à final." : dias > 366 ? "Escolha no máximo 366 dias." : null;
  const relatorio = useQuery({
    queryKey: ["custos", de, ate, agrupar],
    queryFn: () => api<CustosOut>(`/relatorios/custos?de=${de}&ate=${ate}&agrupar=${agrupar}`),
    enabled: problema === null,
  });
  const r = relatorio.data;
  return (
    <section className="pagina custos" aria-labelledby="custos-titulo">
      <h2 id="custos-titulo">Custos do WhatsApp</h2>
      <form className="filtros-pagina" onSubmit={(e) => e.preventDefault()} aria-label="Período do relatório">
        <label>
          De <input type="date" value={de} onChange={(e) => setDe(e.target.value)} required />
        </label>
        <label>
          Até <input type="date" value={ate} onChange={(e) => setAte(e.target.value)} required />
        </label>
        <label>
          Agrupar por{" "}
          <select value={agrupar} onChange={(e) => setAgrupar(e.target.value as "dia" | "mes")}>
            <option value="dia">Dia</option>
            <option value="mes">Mês</option>
          </select>
        </label>
      </form>
      {problema && <p role="alert" className="erro">{problema}</p>}
      {relatorio.isError && <p role="alert" className="erro">{errorMessage(relatorio.error)}</p>}
      {!problema && relatorio.isPending && <p>Carregando…</p>}
      {r && !problema && (
        <>
          <p className="aviso" role="note">
            {r.aviso}
          </p>
          <dl className="totais">
            <div>
              <dt>Total estimado</dt>
              <dd>{formatBRL(r.total.valor_estimado_brl)}</dd>
            </div>
            <div>
              <dt>Mensagens enviadas</dt>
              <dd>{r.total.mensagens}</dd>
            </div>
            <div>
              <dt>Cobradas</dt>
              <dd>{r.total.cobradas}</dd>
            </div>
            <div>
              <dt>Gratuitas</dt>
              <dd>{r.total.gratuitas}</dd>
            </div>
            <div>
              <dt>Sem informação de preço</dt>
              <dd>{r.total.sem_informacao}</dd>
            </div>
            <div>
              <dt>Cobradas sem tarifa</dt>
              <dd>{r.total.cobradas_sem_tarifa}</dd>
            </div>
          </dl>
          <Grafico periodos={r.periodos} agrupar={r.agrupar} />
          <Tabela periodos={r.periodos} agrupar={r.agrupar} />
        </>
      )}
      <Tarifas admin={admin} />
    </section>
  );
}

interface Barra {
  periodo: string;
  partes: { categoria: string; valor: number }[];
  total: number;
}

function barras(periodos: Periodo[]): Barra[] {
  const por = new Map<string, Barra>();
  for (const p of periodos) {
    const barra = por.get(p.periodo) ?? { periodo: p.periodo, partes: [], total: 0 };
    barra.partes.push({ categoria: p.billing_category ?? "sem", valor: p.valor_estimado_brl });
    barra.total += p.valor_estimado_brl;
    por.set(p.periodo, barra);
  }
  const ordem = (c: string) => (CATEGORIAS as readonly string[]).indexOf(c) + (c === "sem" ? 99 : 0);
  return [...por.values()].sort((a, b) => a.periodo.localeCompare(b.periodo)).map((b) => ({ ...b, partes: b.partes.sort((x, y) => ordem(x.categoria) - ordem(y.categoria)) }));
}

/** Bars per period, stacked by category, in reais. */
function Grafico({ periodos, agrupar }: { periodos: Periodo[]; agrupar: "dia" | "mes" }) {
  const tituloId = useId();
  const dados = barras(periodos);
  const maximo = Math.max(0, ...dados.map((b) => b.total));
  if (dados.length === 0) return <p className="vazio">Nenhuma mensagem enviada no período.</p>;
  const largura = 640;
  const altura = 220;
  const margem = { esquerda: 64, base: 28, topo: 10 };
  const util = altura - margem.base - margem.topo;
  const passo = (largura - margem.esquerda) / dados.length;
  const barra = Math.max(4, Math.min(40, passo * 0.7));
  const escala = maximo > 0 ? util / maximo : 0;
  const mostrarRotulo = (i: number) => dados.length <= 16 || i % Math.ceil(dados.length / 16) === 0;
  const descricao = dados.map((b) => `${rotuloPeriodo(b.periodo, agrupar)}: ${formatBRL(b.total)}`).join("; ");
  return (
    <figure className="grafico">
      <svg viewBox={`0 0 ${largura} ${altura}`} role="img" aria-labelledby={tituloId} width="100%" preserveAspectRatio="xMidYMid meet">
        <title id={tituloId}>{`Custo estimado por ${agrupar === "mes" ? "mês" : "dia"}, empilhado por categoria. ${descricao}`}</title>
        {[0, 0.5, 1].map((f) => {
          const y = margem.topo + util - f * util;
          return (
            <g key={f}>
              <line x1={margem.esquerda} x2={largura} y1={y} y2={y} stroke="#d5d8d2" />
              <text x={margem.esquerda - 6} y={y + 4} textAnchor="end" fontSize="11" fill="#3d423f">
                {formatBRL(maximo * f)}
              </text>
            </g>
          );
        })}
        {dados.map((b, i) => {
          const x = margem.esquerda + i * passo + (passo - barra) / 2;
          let y = margem.topo + util;
          return (
            <g key={b.periodo} data-periodo={b.periodo}>
              {b.partes.map((p) => {
                const h = p.valor * escala;
                y -= h;
                return (
                  <rect key={p.categoria} x={x} y={y} width={barra} height={h} fill={COR[p.categoria] ?? COR.sem}>
                    <title>{`${rotuloPeriodo(b.periodo, agrupar)} · ${NOME_CATEGORIA[p.categoria] ?? p.categoria}: ${formatBRL(p.valor)}`}</title>
                  </rect>
                );
              })}
              {mostrarRotulo(i) && (
                <text x={x + barra / 2} y={altura - 8} textAnchor="middle" fontSize="11" fill="#3d423f">
                  {rotuloPeriodo(b.periodo, agrupar)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <ul className="legenda" aria-label="Legenda">
          {CATEGORIAS.map((c) => (
            <li key={c}>
              <span className="cor" style={{ background: COR[c] }} aria-hidden="true" /> {NOME_CATEGORIA[c]}
            </li>
          ))}
        </ul>
      </figcaption>
    </figure>
  );
}

function Tabela({ periodos, agrupar }: { periodos: Periodo[]; agrupar: "dia" | "mes" }) {
  if (periodos.length === 0) return null;
  return (
    <div className="tabela-rolagem" tabIndex={0} role="region" aria-label="Tabela de custos por período">
      <table className="tabela">
        <caption className="sr-only">Mensagens e custo estimado por período e categoria</caption>
        <thead>
          <tr>
            <th scope="col">{agrupar === "mes" ? "Mês" : "Dia"}</th>
            <th scope="col">Categoria</th>
            <th scope="col">Enviadas</th>
            <th scope="col">Cobradas</th>
            <th scope="col">Gratuitas</th>
            <th scope="col">Sem informação</th>
            <th scope="col">Estimativa</th>
          </tr>
        </thead>
        <tbody>
          {periodos.map((p) => (
            <tr key={`${p.periodo}-${p.billing_category ?? "sem"}`}>
              <td>{rotuloPeriodo(p.periodo, agrupar)}</td>
              <td>{NOME_CATEGORIA[p.billing_category ?? "sem"] ?? p.billing_category}</td>
              <td>{p.mensagens}</td>
              <td>
                {p.cobradas}
                {p.cobradas_sem_tarifa > 0 && ` (${p.cobradas_sem_tarifa} sem tarifa)`}
              </td>
              <td>{p.gratuitas}</td>
              <td>{p.sem_informacao}</td>
              <td>{formatBRL(p.valor_estimado_brl)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Tarifas({ admin }: { admin: boolean }) {
  const client = useQueryClient();
  const tarifas = useQuery({ queryKey: ["tarifas"], queryFn: () => api<TarifasOut>("/tarifas") });
  const [categoria, setCategoria] = useState<(typeof CATEGORIAS)[number]>("marketing");
  const [desde, setDesde] = useState(hojeSP());
  const [valor, setValor] = useState("");
  const [observacao, setObservacao] = useState("");
  const salvar = useMutation({
    mutationFn: () =>
      api("/tarifas", {
        method: "POST",
        body: { categoria, vigente_desde: desde, valor_brl: valor.replace(",", "."), observacao: observacao || null },
      }),
    onSuccess: () => {
      setValor("");
      setObservacao("");
      void client.invalidateQueries({ queryKey: ["tarifas"] });
      void client.invalidateQueries({ queryKey: ["custos"] });
    },
  });
  const enviar = (e: FormEvent) => {
    e.preventDefault();
    salvar.mutate();
  };
  return (
    <section aria-labelledby="tarifas-titulo" className="tarifas">
      <h3 id="tarifas-titulo">Tabela de tarifas (R$ por mensagem cobrada)</h3>
      {tarifas.isError && <p role="alert" className="erro">{errorMessage(tarifas.error)}</p>}
      {tarifas.data && (
        <div className="tabela-rolagem" tabIndex={0} role="region" aria-label="Tarifas configuradas">
          <table className="tabela">
            <thead>
              <tr>
                <th scope="col">Categoria</th>
                <th scope="col">Vigente desde</th>
                <th scope="col">Valor</th>
                <th scope="col">Observação</th>
              </tr>
            </thead>
            <tbody>
              {tarifas.data.items.map((t) => (
                <tr key={t.id}>
                  <td>{NOME_CATEGORIA[t.categoria]}</td>
                  <td>{diaData.format(new Date(`${t.vigente_desde}T00:00:00Z`))}</td>
                  <td>{brlTarifa.format(t.valor_brl)}</td>
                  <td>{t.observacao ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {admin ? (
        <form className="form-grade" onSubmit={enviar} aria-label="Nova tarifa">
          <label>
            Categoria
            <select value={categoria} onChange={(e) => setCategoria(e.target.value as (typeof CATEGORIAS)[number])}>
              {CATEGORIAS.map((c) => (
                <option key={c} value={c}>
                  {NOME_CATEGORIA[c]}
                </option>
              ))}
            </select>
          </label>
          <label>
            Vigente desde <input type="date" value={desde} onChange={(e) => setDesde(e.target.value)} required />
          </label>
          <label>
            Valor (R$) <input inputMode="decimal" value={valor} onChange={(e) => setValor(e.target.value)} required pattern="[0-9]+([,.][0-9]{1,4})?" />
          </label>
          <label>
            Observação <input value={observacao} onChange={(e) => setObservacao(e.target.value)} maxLength={500} />
          </label>
          <button type="submit" disabled={salvar.isPending}>
            Salvar tarifa
          </button>
          {salvar.isError && <p role="alert" className="erro">{errorMessage(salvar.error)}</p>}
          {salvar.isSuccess && <p role="status">Tarifa salva.</p>}
        </form>
      ) : (
        <p className="dica">Só administradores alteram as tarifas.</p>
      )}
    </section>
  );
}
