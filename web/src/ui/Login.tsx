import { type FormEvent, useState } from "react";
import { ApiError, api, setSession } from "../api/client";
import type { LoginOut } from "../api/types";

function explicar(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === "TooManyRequests") {
      const minutos = Math.ceil(Number(error.body.retry_after ?? 900) / 60);
      return `Muitas tentativas erradas. Por segurança, o acesso está bloqueado por cerca de ${minutos} min.`;
    }
    return error.message;
  }
  return "Não foi possível entrar. Tente novamente.";
}

export function Login() {
  const [email, setEmail] = useState("");
  const [senha, setSenha] = useState("");
  const [erro, setErro] = useState<string | null>(null);
  const [enviando, setEnviando] = useState(false);
  const [aviso] = useState(() => {
    const notice = sessionStorage.getItem("crm-inbox.notice");
    sessionStorage.removeItem("crm-inbox.notice");
    return notice;
  });

  const entrar = async (event: FormEvent) => {
    event.preventDefault();
    setEnviando(true);
    setErro(null);
    try {
      const out = await api<LoginOut>("/auth/login", { method: "POST", body: { email, senha } });
      setSession({ token: out.token, expires_at: out.expires_at, administrador: out.administrador });
    } catch (error) {
      setErro(explicar(error));
      setEnviando(false);
    }
  };

  return (
    <main className="login">
      <form onSubmit={entrar} aria-labelledby="login-titulo">
        <h1 id="login-titulo">Caixa de entrada da escola</h1>
        {aviso && <p className="aviso">{aviso}</p>}
        <label htmlFor="email">E-mail</label>
        <input id="email" type="email" autoComplete="username" autoFocus required value={email} onChange={(e) => setEmail(e.target.value)} />
        <label htmlFor="senha">Senha</label>
        <input id="senha" type="password" autoComplete="current-password" required value={senha} onChange={(e) => setSenha(e.target.value)} />
        {erro && (
          <p role="alert" className="erro">
            {erro}
          </p>
        )}
        <button type="submit" disabled={enviando}>
          Entrar
        </button>
      </form>
    </main>
  );
}
