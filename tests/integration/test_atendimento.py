"""Attendance depth (issue 13): quick replies, notes, replies and reactions, read receipts,
distribution, the away message, the 72 h free entry point and the response-time report."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from chalice.test import Client

from app import app
from chalicelib import db
from chalicelib.services import atendimento, inbound, sending
from devstack import payloads as wa
from tests.integration.api_support import auth, body, make_admin, make_contato, make_conversa, make_mensagem


def _post(client, admin, path, data=None, status=200):
    r = client.http.post(path, headers=auth(admin), body=json.dumps(data) if data is not None else "")
    assert r.status_code == status, r.body
    return body(r)


def _conversa_com_entrada(atendente=None, window_hours=10, telefone="+5511988887777"):
    contato = make_contato(telefone=telefone, wa_id=telefone.lstrip("+"))
    extra = {"atendente_id": atendente["id"], "atribuida_em": datetime.now(UTC)} if atendente else {}
    conversa = make_conversa(contato, window_hours=window_hours, **extra)
    entrada = make_mensagem(conversa, "Quanto custa a aula?", whatsapp_id=wa.new_wamid())
    return contato, conversa, entrada


# Quick replies --------------------------------------------------------------------------------
def test_quick_replies_crud_and_placeholders_filled_from_contact_and_lead(client):
    ana = make_admin("Ana")
    contato, conversa, _ = _conversa_com_entrada()
    db.execute(
        "INSERT INTO interessados (contato_id, nome, idade, instrumento_desejado, disponibilidade_horario)"
        " VALUES (:c, 'Pedro', 12, 'violão', true)",
        c=contato["id"],
    )
    criada = _post(
        client,
        ana,
        "/respostas-rapidas",
        {
            "atalho": "/preco",
            "titulo": "Preço",
            "conteudo": "Olá {{primeiro_nome}}! A aula de {{instrumento}} custa R$ 200. {{cupom}}",
        },
        201,
    )
    assert criada["atalho"] == "preco"
    dup = client.http.post(
        "/respostas-rapidas", headers=auth(ana), body=json.dumps({"atalho": "PRECO", "titulo": "x", "conteudo": "y"})
    )
    assert dup.status_code == 409 and body(dup)["Code"] == "ShortcutInUse"

    lista = body(client.http.get(f"/respostas-rapidas?conversa_id={conversa['id']}", headers=auth(ana)))["items"]
    assert lista[0]["conteudo_preenchido"] == "Olá Maria! A aula de violão custa R$ 200. {{cupom}}"
    assert lista[0]["faltando"] == ["cupom"]
    assert body(client.http.get("/respostas-rapidas?busca=pre", headers=auth(ana)))["items"][0]["id"] == criada["id"]

    r = client.http.patch(
        f"/respostas-rapidas/{criada['id']}", headers=auth(ana), body=json.dumps({"titulo": "Preço da aula"})
    )
    assert r.status_code == 200 and body(r)["titulo"] == "Preço da aula" and body(r)["atalho"] == "preco"
    assert client.http.delete(f"/respostas-rapidas/{criada['id']}", headers=auth(ana)).status_code == 204
    assert client.http.delete(f"/respostas-rapidas/{criada['id']}", headers=auth(ana)).status_code == 404


# Notes ------------------------------------------------------------------------------------------
def test_a_note_never_reaches_whatsapp_mentions_and_is_erased_on_anonymisation(client, graph, events):
    ana, bruno = make_admin("Ana"), make_admin("Bruno Lima")
    contato, conversa, _ = _conversa_com_entrada(atendente=ana)
    nota = _post(client, bruno, f"/conversas/{conversa['id']}/notas", {"conteudo": "@ana ela pediu desconto"}, 201)
    assert nota["autor_nome"] == "Bruno Lima"
    assert nota["mencoes"] == [{"id": str(ana["id"]), "nome": "Ana"}]
    assert graph.sent_messages == [] and graph.state.read_receipts == []
    assert db.scalar("SELECT count(*) FROM mensagens WHERE conteudo LIKE '%desconto%'") == 0
    assert [e for e, _ in events if e == "note:new"] == ["note:new"]
    notas = body(client.http.get(f"/conversas/{conversa['id']}/notas", headers=auth(ana)))["items"]
    assert [n["conteudo"] for n in notas] == ["@ana ela pediu desconto"]

    export = client.http.get(f"/contatos/{contato['id']}/export", headers=auth(ana))
    assert export.status_code == 200 and "desconto" not in export.body.decode()
    _post(client, ana, f"/contatos/{contato['id']}/anonimizar", {"confirmar": True})
    assert db.scalar("SELECT count(*) FROM notas") == 0


# Replies and reactions ----------------------------------------------------------------------------
def test_a_reply_carries_context_message_id(db_clean, graph):
    ana = make_admin("Ana")
    _, conversa, entrada = _conversa_com_entrada(atendente=ana)
    pedido = sending.EnviarTexto(tipo="texto", conteudo="Custa R$ 200.", responder_a=entrada["id"])
    result = sending.send(str(conversa["id"]), str(ana["id"]), pedido)
    assert result.status == 201
    assert graph.sent_messages[-1]["context"] == {"message_id": entrada["whatsapp_id"]}
    assert result.body["mensagem"]["dados"]["responde_a"]["mensagem_id"] == str(entrada["id"])

    outra = make_conversa(make_contato(telefone="+5511977776666"))
    alheia = make_mensagem(outra, "de outra conversa", whatsapp_id=wa.new_wamid())
    with pytest.raises(Exception) as exc:
        sending.send(
            str(conversa["id"]),
            str(ana["id"]),
            sending.EnviarTexto(tipo="texto", conteudo="x", responder_a=alheia["id"]),
        )
    assert exc.value.status == 422 and exc.value.extra["field"] == "responder_a"


def test_a_reaction_and_its_removal_reach_whatsapp_and_the_original_message(db_clean, graph, events):
    ana = make_admin("Ana")
    _, conversa, entrada = _conversa_com_entrada(atendente=ana)
    antes = db.scalar("SELECT count(*) FROM mensagens")
    reacao = sending.EnviarReacao(tipo="reacao", mensagem_id=entrada["id"], emoji="👍")
    result = sending.send(str(conversa["id"]), str(ana["id"]), reacao)
    assert result.status == 201
    enviado = graph.sent_messages[-1]
    assert enviado["type"] == "reaction"
    assert enviado["reaction"] == {"message_id": entrada["whatsapp_id"], "emoji": "👍"}
    assert result.body["mensagem"]["id"] == str(entrada["id"])
    assert result.body["mensagem"]["dados"]["reacao_enviada"]["emoji"] == "👍"
    assert db.scalar("SELECT count(*) FROM mensagens") == antes  # not a new bubble
    assert "message:updated" in [e for e, _ in events]

    sending.send(
        str(conversa["id"]), str(ana["id"]), sending.EnviarReacao(tipo="reacao", mensagem_id=entrada["id"], emoji="")
    )
    assert graph.sent_messages[-1]["reaction"] == {"message_id": entrada["whatsapp_id"], "emoji": ""}
    dados = db.scalar("SELECT dados FROM mensagens WHERE id = :id", id=entrada["id"])
    assert "reacao_enviada" not in dados


def test_a_reaction_needs_the_window(db_clean, graph):
    ana = make_admin("Ana")
    _, conversa, entrada = _conversa_com_entrada(atendente=ana, window_hours=-1)
    with pytest.raises(Exception) as exc:
        sending.send(
            str(conversa["id"]),
            str(ana["id"]),
            sending.EnviarReacao(tipo="reacao", mensagem_id=entrada["id"], emoji="❤️"),
        )
    assert exc.value.code == "WindowClosed"
    assert graph.sent_messages == []


# Read receipts and typing ----------------------------------------------------------------------------
def test_lida_sends_one_read_receipt_per_message_and_is_idempotent(client, graph):
    ana = make_admin("Ana")
    _, conversa, entrada = _conversa_com_entrada(atendente=ana)
    _post(client, ana, f"/conversas/{conversa['id']}/lida")
    _post(client, ana, f"/conversas/{conversa['id']}/lida")
    assert [r["message_id"] for r in graph.state.read_receipts] == [entrada["whatsapp_id"]]
    assert graph.state.read_receipts[0]["status"] == "read"
    nova = make_mensagem(
        conversa, "Oi?", whatsapp_id=wa.new_wamid(), created_at=datetime.now(UTC) + timedelta(seconds=1)
    )
    _post(client, ana, f"/conversas/{conversa['id']}/lida")
    assert [r["message_id"] for r in graph.state.read_receipts] == [entrada["whatsapp_id"], nova["whatsapp_id"]]


def test_lida_answers_even_when_whatsapp_fails_and_retries_later(client, graph):
    ana = make_admin("Ana")
    _, conversa, entrada = _conversa_com_entrada(atendente=ana)
    graph.fail("messages", code=131000)
    _post(client, ana, f"/conversas/{conversa['id']}/lida")
    graph.clear_faults()
    _post(client, ana, f"/conversas/{conversa['id']}/lida")
    assert [r["message_id"] for r in graph.state.read_receipts] == [entrada["whatsapp_id"]]


def test_typing_indicator_is_rate_limited(client, graph):
    ana = make_admin("Ana")
    _, conversa, _entrada = _conversa_com_entrada(atendente=ana)
    assert _post(client, ana, f"/conversas/{conversa['id']}/digitando") == {"enviado": True}
    assert _post(client, ana, f"/conversas/{conversa['id']}/digitando") == {"enviado": False}
    assert graph.state.read_receipts[-1]["typing_indicator"] == {"type": "text"}
    assert len(graph.state.read_receipts) == 1


# Distribution ------------------------------------------------------------------------------------------
def _settings(**kw):
    base = {"distribuicao_automatica": False, "capacidade": 5, "horarios": [], "mensagem_ausencia": ""}
    atendimento.put_configuracoes(None, atendimento.ConfiguracoesIn(**{**base, **kw}))


def test_distribution_under_20_concurrent_new_conversations_never_overshoots_capacity(db_clean):
    admins = [make_admin(n) for n in ("Ana", "Bruno", "Carla", "Davi")]
    for i, admin in enumerate(admins[:3]):  # Davi is offline
        db.execute("INSERT INTO ws_conexoes (connection_id, admin_id) VALUES (:c, :a)", c=f"conn{i}=", a=admin["id"])
    _settings(distribuicao_automatica=True, capacidade=2)
    payloads = [wa.envelope(wa.value([wa.text(f"55119{i:08d}", "Oi")])) for i in range(20)]
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def deliver(payload):
        try:
            barrier.wait()
            inbound.handle_payload(payload)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=deliver, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    carga = {
        r["atendente_id"]: r["n"]
        for r in db.query("SELECT atendente_id, count(*) AS n FROM conversas GROUP BY atendente_id")
    }
    assert db.scalar("SELECT count(*) FROM conversas") == 20
    assert carga.pop(None) == 14
    assert sorted(carga.values()) == [2, 2, 2]
    assert set(carga) == {a["id"] for a in admins[:3]}


def test_distribution_round_robins_among_the_least_loaded_and_skips_when_off(db_clean):
    ana, bruno = make_admin("Ana"), make_admin("Bruno")
    for i, admin in enumerate((ana, bruno)):
        db.execute("INSERT INTO ws_conexoes (connection_id, admin_id) VALUES (:c, :a)", c=f"c{i}=", a=admin["id"])
    inbound.handle_payload(wa.envelope(wa.value([wa.text("5511900000001", "Oi")])))
    assert db.scalar("SELECT count(*) FROM conversas WHERE atendente_id IS NOT NULL") == 0  # off by default
    _settings(distribuicao_automatica=True, capacidade=10)
    donos = []
    for i in range(2, 6):
        inbound.handle_payload(wa.envelope(wa.value([wa.text(f"551190000000{i}", "Oi")])))
        donos.append(
            db.scalar(
                "SELECT atendente_id FROM conversas ORDER BY created_at DESC, atribuida_em DESC NULLS LAST LIMIT 1"
            )
        )
    assert donos.count(ana["id"]) == 2 and donos.count(bruno["id"]) == 2
    assert donos[0] != donos[1] and donos[2] != donos[3]


# Away message ----------------------------------------------------------------------------------------------
def _fora_do_horario():
    hoje = (datetime.now(ZoneInfo("America/Sao_Paulo")).weekday() + 1) % 7
    return [{"dia": d, "inicio": "08:00", "fim": "18:00"} for d in range(7) if d != hoje]


def test_away_message_once_outside_hours_never_for_redeliveries(webhook, graph):
    _settings(horarios=_fora_do_horario(), mensagem_ausencia="Voltamos às 8h!")
    msg = wa.text("5511912345678", "Oi, estão abertos?")
    webhook.deliver(wa.value([msg]))
    webhook.deliver(wa.value([msg]))  # Meta's redelivery
    webhook.deliver(wa.value([wa.text("5511912345678", "Alô?")]))  # a second message minutes later
    texts = [m for m in graph.sent_messages if m["type"] == "text"]
    assert [m["text"]["body"] for m in texts] == ["Voltamos às 8h!"]
    row = db.query_one("SELECT * FROM mensagens WHERE direcao = 'saida'")
    assert row["enviado_por"] is None and row["dados"]["sistema"] == "ausencia" and row["status_envio"] == "enviada"
    assert db.scalar("SELECT atendente_id FROM conversas") is None  # the system takes nothing


def test_no_away_message_inside_business_hours(webhook, graph):
    _settings(horarios=[{"dia": d, "inicio": "00:00", "fim": "24:00"} for d in range(7)], mensagem_ausencia="Fora!")
    webhook.deliver(wa.value([wa.text("5511912345678", "Oi")]))
    assert graph.sent_messages == []


def test_business_hours_in_sao_paulo():
    horarios = [{"dia": 1, "inicio": "08:00", "fim": "18:00"}]  # Mondays
    segunda_10h_sp = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)  # 10:00 in São Paulo (UTC-3)
    assert atendimento.dentro_do_horario(horarios, segunda_10h_sp)
    assert not atendimento.dentro_do_horario(horarios, segunda_10h_sp + timedelta(hours=8))  # 18:00
    assert not atendimento.dentro_do_horario(horarios, segunda_10h_sp + timedelta(days=1))
    assert atendimento.dentro_do_horario([], segunda_10h_sp)


# The 72 h free entry point ---------------------------------------------------------------------------------
def test_a_referral_conversation_gets_72_hours_and_its_cost_is_free(webhook, graph, client):
    ana = make_admin("Ana")
    webhook.deliver(wa.value([wa.text("5511912345678", "Vi o anúncio", referral=wa.referral())]))
    conversa = db.query_one("SELECT * FROM conversas")
    assert conversa["anuncio_em"] is not None and conversa["free_entry_point_ate"] is None
    result = sending.send(str(conversa["id"]), str(ana["id"]), sending.EnviarTexto(tipo="texto", conteudo="Olá!"))
    assert result.status == 201
    depois = db.query_one("SELECT * FROM conversas")
    assert depois["free_entry_point_ate"] == conversa["anuncio_em"] + timedelta(hours=72)
    assert depois["window_expires_at"] == depois["free_entry_point_ate"]
    item = body(client.http.get(f"/conversas/{conversa['id']}", headers=auth(ana)))
    assert item["free_entry_point_ate"] is not None
    hoje = datetime.now(ZoneInfo("America/Sao_Paulo")).date().isoformat()
    custos = body(client.http.get(f"/relatorios/custos?de={hoje}&ate={hoje}", headers=auth(ana)))
    assert custos["total"]["gratuitas"] == 1 and custos["total"]["cobradas"] == 0


def test_a_late_first_reply_gets_no_free_entry_point(db_clean, graph):
    ana = make_admin("Ana")
    contato = make_contato(telefone="+5511912345678", wa_id="5511912345678")
    conversa = make_conversa(contato, window_hours=1, anuncio_em=datetime.now(UTC) - timedelta(hours=25))
    sending.send(str(conversa["id"]), str(ana["id"]), sending.EnviarTexto(tipo="texto", conteudo="Olá!"))
    assert db.scalar("SELECT free_entry_point_ate FROM conversas") is None


# Metrics -----------------------------------------------------------------------------------------------------
def test_metrics_match_hand_computed_values(client):
    ana, bruno = make_admin("Ana"), make_admin("Bruno")
    t0 = datetime(2026, 11, 10, 13, 0, tzinfo=UTC)  # 10:00 in São Paulo

    def conversa(tel, offset_h, resposta_s, quem, fechada_h=None):
        c = make_conversa(make_contato(telefone=tel), window_hours=None, created_at=t0 + timedelta(hours=offset_h))
        inicio = t0 + timedelta(hours=offset_h)
        make_mensagem(c, "Oi", created_at=inicio)
        make_mensagem(c, "Olá", "saida", enviado_por=quem["id"], created_at=inicio + timedelta(seconds=resposta_s))
        make_mensagem(c, "Mais", "saida", enviado_por=quem["id"], created_at=inicio + timedelta(seconds=resposta_s + 5))
        if fechada_h is not None:
            db.execute(
                "UPDATE conversas SET status = 'encerrada', closed_at = :t, atendente_id = :a, atribuida_em = :t"
                " WHERE id = :id",
                t=inicio + timedelta(hours=fechada_h),
                a=quem["id"],
                id=c["id"],
            )
        return c

    conversa("+5511900000001", 0, 60, ana, fechada_h=1)
    conversa("+5511900000002", 1, 120, ana, fechada_h=3)
    conversa("+5511900000003", 2, 600, ana)
    conversa("+5511900000004", 3, 30, bruno, fechada_h=2)
    make_conversa(make_contato(telefone="+5511900000005"), window_hours=None)  # waiting, unassigned

    r = body(client.http.get("/relatorios/atendimento?de=2026-11-10&ate=2026-11-10", headers=auth(ana)))
    linhas = {linha["atendente_nome"]: linha for linha in r["atendentes"]}
    assert linhas["Ana"]["conversas_atendidas"] == 3 and linhas["Ana"]["mensagens_enviadas"] == 6
    assert linhas["Ana"]["primeira_resposta_mediana_s"] == 120.0
    assert linhas["Ana"]["primeira_resposta_p90_s"] == 504.0  # 120 + 0.8 * (600 - 120)
    assert linhas["Ana"]["resolucao_mediana_s"] == 7200.0  # median of 1 h and 3 h
    assert linhas["Bruno"]["primeira_resposta_mediana_s"] == 30.0
    assert r["total"]["conversas_atendidas"] == 4 and r["total"]["mensagens_enviadas"] == 8
    assert r["total"]["primeira_resposta_mediana_s"] == 90.0  # median of 30, 60, 120, 600
    assert r["total"]["resolucao_mediana_s"] == 7200.0  # 1 h, 2 h, 3 h
    assert r["aguardando"] == 2  # the open conversations without an assignee (3rd and 5th)
    so_bruno = body(
        client.http.get(
            f"/relatorios/atendimento?de=2026-11-10&ate=2026-11-10&atendente={bruno['id']}", headers=auth(ana)
        )
    )
    assert [linha["atendente_nome"] for linha in so_bruno["atendentes"]] == ["Bruno"]
    assert (
        body(client.http.get("/relatorios/atendimento?de=2026-11-11&ate=2026-11-12", headers=auth(ana)))["total"][
            "conversas_atendidas"
        ]
        == 0
    )
    assert date(2026, 11, 10)  # the seeded day


def test_only_an_admin_changes_the_attendance_settings(db_clean):
    from tests.integration.api_support import auth, body, make_admin

    atendente = make_admin("Bia", papel="atendente")
    admin = make_admin("Ana")
    with Client(app) as client:
        settings = body(client.http.get("/configuracoes/atendimento", headers=auth(atendente)))  # reading is for all
        changed = {k: v for k, v in settings.items() if k in ("distribuicao_automatica", "capacidade")}
        changed["capacidade"] = 4
        refused = client.http.put("/configuracoes/atendimento", headers=auth(atendente), body=json.dumps(changed))
        assert refused.status_code == 403 and body(refused)["Code"] == "ForbiddenError"
        allowed = client.http.put("/configuracoes/atendimento", headers=auth(admin), body=json.dumps(changed))
        assert allowed.status_code == 200, allowed.body
        assert body(allowed)["capacidade"] == 4
