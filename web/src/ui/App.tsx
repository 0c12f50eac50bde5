import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, useSyncExternalStore } from "react";
import { Route, Switch, useLocation } from "wouter";
import { api, getConfig, getSession, onSessionChange, setSession } from "../api/client";
import { type ConnectionState, connectLive } from "../live/socket";
import { Configuracoes } from "./Configuracoes";
import { Contatos } from "./Contatos";
import { Conversa } from "./Conversa";
import { Custos } from "./Custos";
import { Equipe, useMe } from "./Equipe";
import { Inbox } from "./Inbox";
import { Login } from "./Login";
import { Metricas } from "./Metricas";
import { Navegacao, emOutraPagina } from "./Navegacao";
import { Notificacoes } from "./Notificacoes";
import { Templates } from "./Templates";

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
    const onState = (state: ConnectionState) => {
      setEstado(state);
      // A socket closed by the server may mean the session ended (account deactivated): asking
      // who we are answers 401 then, which signs out (api/client.ts).
      if (state === "reconectando") void api("/me").catch(() => undefined);
    };
    const live = connectLive({ url: getConfig().wsUrl, token, client, meId, onState });
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
        <Navegacao />
        <p role="status" className={`conexao ${estado}`}>
          {estado === "conectado" ? "Conectado" : "Reconectando…"}
        </p>
        <Notificacoes />
        <span className="quem">{nome}</span>
        <button type="button" onClick={sair}>
          Sair
        </button>
      </header>
      {emOutraPagina(location) ? (
        <main className="outra-pagina">
          <OutrasPaginas meId={meId} />
        </main>
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

function OutrasPaginas({ meId }: { meId: string }) {
  const me = useMe();
  return (
    <Switch>
      <Route path="/contatos">{() => <Contatos selecionado={null} />}</Route>
      <Route path="/contatos/:id">{(params) => <Contatos selecionado={params.id} />}</Route>
      <Route path="/templates" component={Templates} />
      <Route path="/custos">{() => <Custos admin={me.data?.papel === "admin"} />}</Route>
      <Route path="/equipe">{() => <Equipe meId={meId} />}</Route>
      <Route path="/configuracoes" component={Configuracoes} />
      <Route path="/metricas" component={Metricas} />
    </Switch>
  );
}
