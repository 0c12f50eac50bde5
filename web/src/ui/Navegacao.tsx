// The console's pages. Each one is its own module; App.tsx only places the links and routes.
import { Link, useLocation } from "wouter";

export const PAGINAS = [
  { href: "/", nome: "Conversas" },
  { href: "/contatos", nome: "Contatos" },
  { href: "/templates", nome: "Templates" },
  { href: "/custos", nome: "Custos" },
  { href: "/equipe", nome: "Equipe" },
  { href: "/metricas", nome: "Métricas" },
  { href: "/configuracoes", nome: "Configurações" },
] as const;

/** Whether `location` belongs to a page other than the inbox (which owns "/" and /conversas). */
export function emOutraPagina(location: string): boolean {
  return PAGINAS.some((p) => p.href !== "/" && (location === p.href || location.startsWith(`${p.href}/`)));
}

export function Navegacao() {
  const [location] = useLocation();
  const atual = (href: string) => (href === "/" ? !emOutraPagina(location) : location === href || location.startsWith(`${href}/`));
  return (
    <nav aria-label="Páginas do console" className="nav">
      <ul>
        {PAGINAS.map((p) => (
          <li key={p.href}>
            <Link href={p.href} aria-current={atual(p.href) ? "page" : undefined}>
              {p.nome}
            </Link>
          </li>
        ))}
      </ul>
    </nav>
  );
}
