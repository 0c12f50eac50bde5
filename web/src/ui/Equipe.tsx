// The team: attendants and administrators. Admins create and deactivate accounts (their
// sessions end at once and their open conversations go back to the queue); everyone changes
// their own password here.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { api, errorMessage, getSession, setSession } from "../api/client";
import type { components } from "../api/schema";
import type { Administrador } from "../api/types";
import { TIME_ZONE } from "../lib/format";

type Pagina = components["schemas"]["AdministradoresPage"];
type SenhaOut = components["schemas"]["SenhaOut"];

const quando = new Intl.DateTimeFormat("pt-BR", { timeZone: TIME_ZONE, dateStyle: "short", timeStyle: "short" });

export function useMe() {
  return useQuery({ queryKey: ["me"], queryFn: () => api<Administrador>("/me"), staleTime: 60_000 });
}

export function Equipe({ meId }: { meId: string }) {
  const me = useMe();
  const admin = me.data?.papel === "admin";
  const equipe = useQuery({ queryKey: ["administradores"], queryFn: () => api<Pagina>("/administradores?limit=100") });
  return (
    <section className="pagina equipe" aria-labelledby="equipe-titulo">
      <h2 id="equipe-titulo">Equipe</h2>
      {equipe.isError && <p role="alert" className="erro">{errorMessage(equipe.error)}</p>}
      {equipe.data && (
        <ul className="pessoas" aria-label="Pessoas da equipe">
          {equipe.data.items.map((a) => (
            <Pessoa key={a.id} pessoa={a} podeDesativar={admin && a.id !== meId && a.ativo} />
          ))}
        </ul>
      )}
      {admin ? <NovaPessoa /> : me.data && <p className="dica">Só administradores cadastram e desativam pessoas.</p>}
      <TrocarSenha />
    </section>
  );
}

function Pessoa({ pessoa, podeDesativar }: { pessoa: Administrador; podeDesativar: boolean }) {
  const client = useQueryClient();
  const [confirmando, setConfirmando] = useState(false);
  const desativar = useMutation({
    mutationFn: () => api(`/administradores/${pessoa.id}`, { method: "DELETE" }),
    onSuccess: () => {
      setConfirmando(false);
      void client.invalidateQueries({ queryKey: ["administradores"] });
    },
  });
  return (
    <li className={pessoa.ativo ? "" : "inativo"}>
      <div>
        <strong>{pessoa.nome}</strong> <span className="papel">{pessoa.papel === "admin" ? "Administrador" : "Atendente"}</span>
        <br />
        <span className="email">{pessoa.email}</span>
        {!pessoa.ativo && (
          <span className="estado">
            {" "}
            · Desativado{pessoa.desativado_em ? ` em ${quando.format(new Date(pessoa.desativado_em))}` : ""}
          </span>
        )}
      </div>
      {podeDesativar && !confirmando && (
        <button type="button" className="perigo" onClick={() => setConfirmando(true)} aria-label={`Desativar ${pessoa.nome}`}>
          Desativar
        </button>
      )}
      {confirmando && (
        <div role="group" aria-label={`Confirmar desativação de ${pessoa.nome}`} className="confirmar">
          <p>As sessões de {pessoa.nome} terminam agora e as conversas abertas voltam para a fila. O histórico mantém o nome.</p>
          <button type="button" className="perigo" onClick={() => desativar.mutate()} disabled={desativar.isPending}>
            Confirmar desativação
          </button>
          <button type="button" className="secundario" onClick={() => setConfirmando(false)}>
            Cancelar
          </button>
        </div>
      )}
      {desativar.isError && <p role="alert" className="erro">{errorMessage(desativar.error)}</p>}
    </li>
  );
}

function NovaPessoa() {
  const client = useQueryClient();
  const [nome, setNome] = useState("");
  const [email, setEmail] = useState("");
  const [senha, setSenha] = useState("");
  const [papel, setPapel] = useState<"atendente" | "admin">("atendente");
  const criar = useMutation({
    mutationFn: () => api<Administrador>("/administradores", { method: "POST", body: { nome, email, senha, papel } }),
    onSuccess: () => {
      setNome("");
      setEmail("");
      setSenha("");
      void client.invalidateQueries({ queryKey: ["administradores"] });
    },
  });
  const enviar = (e: FormEvent) => {
    e.preventDefault();
    criar.mutate();
  };
  return (
    <form className="form-grade" onSubmit={enviar} aria-labelledby="nova-pessoa">
      <h3 id="nova-pessoa">Cadastrar pessoa</h3>
      <label>
        Nome <input value={nome} onChange={(e) => setNome(e.target.value)} required maxLength={100} autoComplete="off" />
      </label>
      <label>
        E-mail da pessoa <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} required autoComplete="off" />
      </label>
      <label>
        Senha inicial <input type="password" value={senha} onChange={(e) => setSenha(e.target.value)} required minLength={10} autoComplete="new-password" aria-describedby="senha-dica" />
      </label>
      <p id="senha-dica" className="dica">
        Pelo menos 10 caracteres e não uma das senhas mais usadas. Entregue-a à pessoa por um canal seguro; ela pode trocá-la nesta página.
      </p>
      <label>
        Papel
        <select value={papel} onChange={(e) => setPapel(e.target.value as "atendente" | "admin")}>
          <option value="atendente">Atendente</option>
          <option value="admin">Administrador</option>
        </select>
      </label>
      <button type="submit" disabled={criar.isPending}>
        Cadastrar
      </button>
      {criar.isError && <p role="alert" className="erro">{errorMessage(criar.error)}</p>}
      {criar.isSuccess && <p role="status">{criar.data.nome} cadastrado(a).</p>}
    </form>
  );
}

function TrocarSenha() {
  const [atual, setAtual] = useState("");
  const [nova, setNova] = useState("");
  const trocar = useMutation({
    mutationFn: () => api<SenhaOut>("/me/senha", { method: "POST", body: { senha_atual: atual, senha_nova: nova } }),
    onSuccess: (out) => {
      setAtual("");
      setNova("");
      const session = getSession();
      // Every session ended, this one too: keep working with the new token.
      if (session) setSession({ ...session, token: out.token, expires_at: out.expires_at });
    },
  });
  const enviar = (e: FormEvent) => {
    e.preventDefault();
    trocar.mutate();
  };
  return (
    <form className="form-grade" onSubmit={enviar} aria-labelledby="trocar-senha">
      <h3 id="trocar-senha">Trocar minha senha</h3>
      <label>
        Senha atual <input type="password" value={atual} onChange={(e) => setAtual(e.target.value)} required autoComplete="current-password" />
      </label>
      <label>
        Nova senha <input type="password" value={nova} onChange={(e) => setNova(e.target.value)} required minLength={10} autoComplete="new-password" />
      </label>
      <button type="submit" disabled={trocar.isPending}>
        Trocar senha
      </button>
      {trocar.isError && <p role="alert" className="erro">{errorMessage(trocar.error)}</p>}
      {trocar.isSuccess && <p role="status">Senha trocada. As outras sessões foram encerradas.</p>}
    </form>
  );
}
