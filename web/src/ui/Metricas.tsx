// Response-time metrics per attendant: a table and a bar chart of the median first response.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, errorMessage } from "../api/client";
import type { MetricasOut } from "../api/types";

function hoje(deslocamentoDias = 0): string {
  const d = new Date(Date.now() + deslocamentoDias * 86_400_000);
  return new Intl.DateTimeFormat("en-CA", { timeZone: "America/Sao_Paulo" }).format(d);
}

export function duracao(segundos: number | null | undefined): string {
  if (segundos === null || segundos === undefined) return "—";
  if (segundos < 60) return `${Math.round(segundos)} s`;
  if (segundos < 3600) return `${Math.round(segundos / 60)} min`;
  return `${(segundos / 3600).toFixed(1).replace(".", ",")} h`;
}

export function Metricas() {
  const [de, setDe] = useState(hoje(-6));
  const [ate, setAte] = useState(hoje());
  const dados = useQuery({ queryKey: ["metricas", de, ate], queryFn: () => api<MetricasOut>(`/relatorios/atendimento?de=${de}&ate=${ate}`) });
  const linhas = dados.data?.atendentes ?? [];
  const maior = Math.max(1, ...linhas.map((l) => l.primeira_resposta_mediana_s ?? 0));
  return (
    <main className="pagina" aria-labelledby="metricas-titulo">
      <h1 id="metricas-titulo">Métricas de atendimento</h1>
      <form className="cartao em-linha" aria-label="Período" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor="de">De</label>
        <input id="de" type="date" value={de} onChange={(e) => setDe(e.target.value)} />
        <label htmlFor="ate">Até</label>
        <input id="ate" type="date" value={ate} onChange={(e) => setAte(e.target.value)} />
      </form>
      {dados.isError && <p role="alert">{errorMessage(dados.error)}</p>}
      {dados.data && (
        <>
          <p role="status">Aguardando atendimento agora: {dados.data.aguardando}</p>
          <section className="cartao" aria-labelledby="grafico-titulo">
            <h2 id="grafico-titulo">Primeira resposta (mediana)</h2>
            <ul className="grafico-barras" aria-label="Primeira resposta por atendente">
              {linhas.map((l) => (
                <li key={l.atendente_id ?? "?"}>
                  <span className="rotulo">{l.atendente_nome}</span>
                  <span className="barra" style={{ width: `${((l.primeira_resposta_mediana_s ?? 0) / maior) * 100}%` }} aria-hidden="true" />
                  <span>{duracao(l.primeira_resposta_mediana_s)}</span>
                </li>
              ))}
            </ul>
          </section>
          <table className="cartao tabela-metricas">
            <caption>Por atendente e no total</caption>
            <thead>
              <tr>
                <th scope="col">Atendente</th>
                <th scope="col">Conversas</th>
                <th scope="col">1ª resposta (mediana)</th>
                <th scope="col">1ª resposta (p90)</th>
                <th scope="col">Resolução (mediana)</th>
                <th scope="col">Mensagens</th>
              </tr>
            </thead>
            <tbody>
              {[...linhas, { ...dados.data.total, atendente_nome: "Total" }].map((l) => (
                <tr key={l.atendente_nome ?? "total"}>
                  <th scope="row">{l.atendente_nome}</th>
                  <td>{l.conversas_atendidas}</td>
                  <td>{duracao(l.primeira_resposta_mediana_s)}</td>
                  <td>{duracao(l.primeira_resposta_p90_s)}</td>
                  <td>{duracao(l.resolucao_mediana_s)}</td>
                  <td>{l.mensagens_enviadas}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </main>
  );
}
