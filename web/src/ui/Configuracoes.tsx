// The attendance settings: automatic distribution, capacity, business hours (São Paulo) and the
// away message; and the quick replies.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { api, errorMessage } from "../api/client";
import type { ConfiguracoesIn, ConfiguracoesOut } from "../api/types";
import { GerenciarRespostas } from "./RespostasRapidas";

const DIAS = ["Domingo", "Segunda", "Terça", "Quarta", "Quinta", "Sexta", "Sábado"];
type Dia = { aberto: boolean; inicio: string; fim: string };

function diasDe(c: ConfiguracoesOut): Dia[] {
  return DIAS.map((_, dia) => {
    const h = c.horarios?.find((x) => x.dia === dia);
    return h ? { aberto: true, inicio: h.inicio, fim: h.fim } : { aberto: false, inicio: "08:00", fim: "18:00" };
  });
}

export function Configuracoes() {
  const client = useQueryClient();
  const config = useQuery({ queryKey: ["configuracoes"], queryFn: () => api<ConfiguracoesOut>("/configuracoes/atendimento") });
  const [distribuicao, setDistribuicao] = useState(false);
  const [capacidade, setCapacidade] = useState(5);
  const [dias, setDias] = useState<Dia[]>(DIAS.map(() => ({ aberto: false, inicio: "08:00", fim: "18:00" })));
  const [ausencia, setAusencia] = useState("");
  const [aviso, setAviso] = useState<string | null>(null);
  const [erro, setErro] = useState<string | null>(null);

  // Filled once from the server: a background refetch must not undo what is being edited.
  const carregado = useRef(false);
  useEffect(() => {
    const c = config.data;
    if (!c || carregado.current) return;
    carregado.current = true;
    setDistribuicao(c.distribuicao_automatica ?? false);
    setCapacidade(c.capacidade ?? 5);
    setDias(diasDe(c));
    setAusencia(c.mensagem_ausencia ?? "");
  }, [config.data]);

  const mudarDia = (i: number, patch: Partial<Dia>) => setDias(dias.map((d, j) => (j === i ? { ...d, ...patch } : d)));

  return (
    <main className="pagina" aria-labelledby="config-titulo">
      <h1 id="config-titulo">Configurações de atendimento</h1>
      {config.isError && <p role="alert">{errorMessage(config.error)}</p>}
      {!config.data && !config.isError && <p>Carregando…</p>}
      {config.data && (
      <form
        className="cartao"
        aria-label="Distribuição e horário"
        onSubmit={async (e) => {
          e.preventDefault();
          setErro(null);
          setAviso(null);
          const body: ConfiguracoesIn = {
            distribuicao_automatica: distribuicao,
            capacidade,
            horarios: dias.flatMap((d, dia) => (d.aberto ? [{ dia, inicio: d.inicio, fim: d.fim }] : [])),
            mensagem_ausencia: ausencia,
          };
          try {
            const salvo = await api<ConfiguracoesOut>("/configuracoes/atendimento", { method: "PUT", body });
            client.setQueryData(["configuracoes"], salvo);
            setAviso("Configurações salvas.");
          } catch (error) {
            setErro(errorMessage(error));
          }
        }}
      >
        <fieldset>
          <legend>Distribuição automática</legend>
          <label className="em-linha">
            <input type="checkbox" checked={distribuicao} onChange={(e) => setDistribuicao(e.target.checked)} /> Atribuir novas conversas a quem está conectado
          </label>
          <label htmlFor="capacidade">Conversas ativas por atendente</label>
          <input id="capacidade" type="number" min={1} max={1000} required value={capacidade} onChange={(e) => setCapacidade(Number(e.target.value))} />
        </fieldset>
        <fieldset>
          <legend>Horário de atendimento (horário de Brasília)</legend>
          <table className="horarios">
            <tbody>
              {DIAS.map((nome, i) => (
                <tr key={nome}>
                  <th scope="row">
                    <label className="em-linha">
                      <input type="checkbox" checked={dias[i]!.aberto} onChange={(e) => mudarDia(i, { aberto: e.target.checked })} /> {nome}
                    </label>
                  </th>
                  <td>
                    <input type="time" aria-label={`${nome}: início`} disabled={!dias[i]!.aberto} value={dias[i]!.inicio} onChange={(e) => mudarDia(i, { inicio: e.target.value })} />
                  </td>
                  <td>
                    <input type="time" aria-label={`${nome}: fim`} disabled={!dias[i]!.aberto} value={dias[i]!.fim} onChange={(e) => mudarDia(i, { fim: e.target.value })} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </fieldset>
        <label htmlFor="ausencia">Mensagem de ausência (enviada fora do horário, uma vez por conversa a cada 12 h)</label>
        <textarea id="ausencia" rows={3} maxLength={4096} value={ausencia} onChange={(e) => setAusencia(e.target.value)} />
        <button type="submit" disabled={!config.data}>
          Salvar configurações
        </button>
        {aviso && <p role="status">{aviso}</p>}
        {erro && (
          <p role="alert" className="erro">
            {erro}
          </p>
        )}
      </form>
      )}
      <GerenciarRespostas />
    </main>
  );
}
