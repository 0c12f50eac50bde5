import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, useSyncExternalStore } from "react";
import { Link, Route, Switch, useLocation } from "wouter";
import { getConfig, getSession, onSessionChange, setSession } from "../api/client";
import { type ConnectionState, connectLive } from "../live/socket";
import { Configuracoes } from "./Configuracoes";
import { Conversa } from "./Conversa";
import { Inbox } from "./Inbox";
import { Login } from "./Login";
import { Metricas } from "./Metricas";
import { Notificacoes } from "./Notificacoes";

function useSession() {
  return useSyncExternalStore(onSessionChange, () => localStorage.getItem("crm-inbox.session"));
}

export function App() {
  useSession();
  const session = getSession();
  if (!session) return <Login />;
  return <Console meId={session.administrador.id} nome={session.administrador.nome} token={session.token} />;
}

function Console({ meId, nome, token }: { meId: string; nome: string; token: string }) {
  const client = useQueryClient();
  const [estado, setEstado] = useState<ConnectionState>("reconectando");
  const [location] = useLocation();
  const conversaId = location.startsWith("/conversas/") ? location.slice("/conversas/".length) : null;

  useEffect(() => {
    const live = connectLive({ url: getConfig().wsUrl, token, client, meId, onState: setEstado });
    return () => live.close();
  }, [client, meId, token]);

  const sair = () => {
    client.clear();
    setSession(null);
  };

  return (
    <div className={`console ${conversaId ? "com-conversa" : ""}`}>
      <header className="topo">
        <h1>Caixa de entrada</h1>
        <p role="status" className={`conexao ${estado}`}>
          {estado === "conectado" ? "Conectado" : "Reconectando…"}
        </p>
        <nav aria-label="Seções" className="secoes">
          <Link href="/">Conversas</Link>
          <Link href="/configuracoes">Configurações</Link>
          <Link href="/metricas">Métricas</Link>
        </nav>
        <Notificacoes />
        <span className="quem">{nome}</span>
        <button type="button" onClick={sair}>
          Sair
        </button>
      </header>
      {location === "/configuracoes" ? (
        <Configuracoes />
      ) : location === "/metricas" ? (
        <Metricas />
      ) : (
      <main className="paineis">
        <Inbox selecionada={conversaId} />
        <Switch>
          <Route path="/conversas/:id">{(params) => <Conversa key={params.id} id={params.id} meId={meId} />}</Route>
          <Route>
            <section className="conversa vazia" aria-label="Nenhuma conversa aberta">
              <p>Escolha uma conversa.</p>
            </section>
          </Route>
        </Switch>
      </main>
      )}
    </div>
  );
}
