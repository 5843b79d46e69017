"""How the ``cobranza`` command prints: JSON with ``--json``, readable tables otherwise. Pure
formatting of what the commands computed; nothing here reads the database."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from tabulate import tabulate

from cobranza.domain.kpis import SPLIT_LABELS, KpiReport, indicator_rows, report_groups
from cobranza.domain.money import format_mxn, to_centavos
from cobranza.domain.phones import mask_phone
from cobranza.domain.scores import NO_SCORE
from cobranza.services.agents import ROLE_NAMES

TOP_REASONS = 3  # reasons shown by `cobranza debtor` (--json gives them all)


def show(data: Any, as_json: bool, render: Callable[[Any], str]) -> None:
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        print(render(data))


def persona_counts(counts: dict[str, int]) -> str:
    return tabulate(sorted(counts.items()), headers=["persona", "deudores"])


def debtor(data: dict[str, Any]) -> str:
    profile = [
        ("Teléfono", data["phone"]),
        ("Nombre", data["full_name"]),
        ("Nacimiento", data["date_of_birth"]),
        ("Lugar", f"{data['municipality']}, {data['state']}"),
        ("Zona horaria", f"{data['time_zone']} (hora local {data['local_time']})"),
        ("Persona", data["persona"]),
        ("Saldo total", data["balance_text"]),
        ("Días de atraso", f"{data['days_past_due']} (tramo {data['bucket']})"),
    ]
    if data["hardship_reason"]:
        profile.append(("Dificultad declarada", data["hardship_reason"]))
    consent = [
        (ch, c["status"], c["source"], c["recorded_at"]) for ch, c in data["consent"].items()
    ]
    debts = [
        (
            d["contract_number"],
            d["creditor"],
            d["product"],
            d["current_balance_text"],
            d["days_past_due"],
            d["balance_as_of"],
            d["last_payment_on"] or "—",
        )
        for d in data["debts"]
    ]
    parts = [
        tabulate(profile, tablefmt="plain"),
        "\nPor qué esta persona:\n"
        + "\n".join(f"  - {line}" for line in data["persona_explanation"]),
        "\nAdeudos:\n"
        + tabulate(
            debts,
            headers=[
                "contrato",
                "acreedor",
                "producto",
                "saldo",
                "atraso",
                "calculado",
                "último pago",
            ],
        ),
        "\nConsentimiento:\n"
        + (
            tabulate(consent, headers=["canal", "estado", "origen", "registrado"])
            if consent
            else "  sin registro de consentimiento"
        ),
        "\n" + score(data.get("score")),
    ]
    return "\n".join(parts)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return "—" if value is None else str(value)


def score(data: dict[str, Any] | None) -> str:
    """The current score as an operator reads it: probability, band, date, model, expected
    recovery and the reasons that moved it most."""
    if not data:
        return f"Propensión de pago: {NO_SCORE} (aún no calificado)"
    lines = [
        f"Propensión de pago: {data['percent']:.1f} % (banda {data['band']}; A es la más "
        f"probable), al {data['as_of']}, modelo {data['model_id']}",
        f"Recuperación esperada: {data['expected_recovery_text']}",
    ]
    reasons = data["reasons"][:TOP_REASONS]
    if reasons:
        lines.append("Principales razones:")
        lines += [f"  - {r['label']}: {_number(r['value'])} ({r['effect_label']})" for r in reasons]
    return "\n".join(lines)


def offers(data: dict[str, Any]) -> str:
    lines = [f"Persona {data['persona']}; ofertas calculadas el {data['today']} (hora local)"]
    for debt in data["debts"]:
        lines.append(
            f"\nContrato {debt['contract_number']}: saldo "
            f"{format_mxn(to_centavos(debt['balance']))}, {debt['days_past_due']} días de atraso"
        )
        rows = []
        for offer in debt["offers"]:
            for inst in offer["installments"]:
                rows.append(
                    (
                        offer["code"] if inst["number"] == 1 else "",
                        format_mxn(to_centavos(offer["discount"])) if inst["number"] == 1 else "",
                        inst["number"],
                        format_mxn(to_centavos(inst["amount"])),
                        inst["due_date"],
                    )
                )
        lines.append(
            tabulate(rows, headers=["oferta", "descuento", "pago", "monto", "fecha límite"])
            if rows
            else "  sin ofertas"
        )
    return "\n".join(lines)


def promises(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "Sin promesas de pago registradas."
    return tabulate(
        [
            (
                p["folio"],
                p["amount_text"],
                p["due_date"],
                p["status"],
                p["channel"],
                p["created_by"],
            )
            for p in rows
        ],
        headers=["folio", "monto", "fecha", "estado", "canal", "registró"],
    )


def decision(phone: str) -> Callable[[dict[str, Any]], str]:
    def render(d: dict[str, Any]) -> str:
        verdict = "PERMITIDO" if d["allowed"] else "BLOQUEADO"
        local = datetime.fromisoformat(d["local_time"])
        lines = [
            f"{verdict}: {d['reason']}",
            f"regla: {d['rule']}",
            f"deudor: {mask_phone(phone)}  canal: {d['channel']}  inicia: {d['initiated_by']}",
            f"hora local: {local:%Y-%m-%d %H:%M} ({d['time_zone']}, zona por {d['zone_source']})",
            "",
            tabulate(
                [("✓" if c["passed"] else "✗", c["rule"], c["reason"]) for c in d["checks"]],
                headers=["", "regla", "detalle"],
            ),
        ]
        return "\n".join(lines)

    return render


def _audit_summary(details: dict[str, Any]) -> str:
    if "allowed" in details:
        verdict = "permitido" if details["allowed"] else "bloqueado"
        return f"{verdict} ({details.get('rule')}): {details.get('reason')}"
    return ", ".join(f"{k}={v}" for k, v in details.items())


def audit(phone: str) -> Callable[[list[dict[str, Any]]], str]:
    def render(entries: list[dict[str, Any]]) -> str:
        if not entries:
            return f"Sin registros de auditoría para {mask_phone(phone)}."
        return tabulate(
            [
                (e["occurred_at"][:19], e["actor"], e["action"], _audit_summary(e["details"]))
                for e in entries
            ],
            headers=["cuándo (UTC)", "quién", "acción", "detalle"],
            maxcolwidths=[None, None, None, 70],
        )

    return render


def reminders(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No hay recordatorios pendientes por enviar."
    return tabulate(
        [
            (
                r["phone"],
                r["reference"],
                r["due_on"],
                r["status"],
                "enviar" if r["allowed"] else f"no ({r['rule']})",
                r["reason"],
            )
            for r in rows
        ],
        headers=["deudor", "folio", "pago", "estado", "¿se puede?", "motivo"],
    )


def blocks(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "Sin números bloqueados."
    return tabulate(
        [(b["phone"], b["reason"], b["source"], b["created_at"]) for b in rows],
        headers=["número", "motivo", "origen", "fecha (UTC)"],
    )


def agents(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "Sin asesores. Crea uno con `cobranza agent add USUARIO --name 'Nombre'`."
    return tabulate(
        [
            (a["username"], a["name"], ROLE_NAMES[a["role"]], "sí" if a["active"] else "no")
            for a in rows
        ],
        headers=["usuario", "nombre", "rol", "activo"],
    )


def outreach_plan(data: dict[str, Any]) -> str:
    lines = [
        f"Deudores con consentimiento y saldo: {data['debtors']}",
        f"Mensajes planeados: {data['planned']} (ya estaban planeados: {data['already_planned']})",
    ]
    lines += [f"  {campaign}: {count}" for campaign, count in data["by_campaign"].items()]
    return "\n".join(lines)


def outreach_run(data: dict[str, Any]) -> str:
    lines = [
        f"Tomados: {data['claimed']}  enviados: {data['sent']}  reprogramados: "
        f"{data['rescheduled']}  fallidos: {data['failed']}  sin confirmar: {data['unknown']}"
    ]
    for title, key in (("Detenidos por regla", "blocked"), ("Descartados", "dropped")):
        if data[key]:
            lines.append(f"{title}: " + ", ".join(f"{k} {v}" for k, v in data[key].items()))
    return "\n".join(lines)


def outreach_status(data: dict[str, dict[str, Any]]) -> str:
    if not data:
        return "No hay mensajes de campaña planeados."
    lines = []
    for campaign, entry in data.items():
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(entry["statuses"].items()))
        lines.append(f"{campaign}: {statuses}")
        if entry["waiting_on"]:
            waiting = ", ".join(f"{k} {v}" for k, v in sorted(entry["waiting_on"].items()))
            lines.append(f"  esperando por: {waiting}")
    return "\n".join(lines)


def campaigns_summary(
    campaigns: list[Any], templates: dict[str, Any], settings: Any, experiments: list[Any]
) -> str:
    """``cobranza campaigns validate``: one block per campaign, highest priority first, then
    the experiments."""
    lines = [
        f"{len(campaigns)} campañas válidas en {settings.campaigns_dir} y "
        f"{len(templates)} plantillas válidas en {settings.templates_dir}.",
        "Prioridad: la más alta primero cuando el tope diario de envíos no alcanza.",
    ]
    for campaign in campaigns:
        state = "activa" if campaign.enabled else "desactivada"
        lines.append("")
        lines.append(
            f"{campaign.name} (prioridad {campaign.priority}, {state}, máx. "
            f"{campaign.max_per_debtor_per_30_days} por deudor en 30 días)"
        )
        lines.append(f"  audiencia: {'; '.join(campaign.audience.describe())}")
        for step in campaign.steps:
            lines.append(f"  - {step.name} → {step.template}: {step.describe()}")
    used = {s.template for c in campaigns for s in c.steps}
    used |= {a.variant for e in experiments for a in e.arms}
    unused = sorted(set(templates) - used)
    if unused:
        lines.append("")
        lines.append(f"Plantillas que ninguna campaña ni experimento usa: {', '.join(unused)}")
    lines += ["", experiments_summary(experiments, settings.experiments_dir)]
    return "\n".join(lines)


def campaign_detail(campaign: Any, templates: dict[str, Any], values: dict[str, str]) -> str:
    """``cobranza campaigns show``: the campaign, each step and its message as it will read."""
    from cobranza.outreach.templates import preview

    lines = [
        f"Campaña {campaign.name} ({campaign.source})",
        f"  {campaign.description}",
        f"  Estado: {'activa' if campaign.enabled else 'desactivada'}; prioridad "
        f"{campaign.priority}; máximo {campaign.max_per_debtor_per_30_days} mensajes por "
        "deudor en 30 días",
        f"  Audiencia: {'; '.join(campaign.audience.describe())}",
        "  Consentimiento, horario y límites de contacto: los revisa el motor de cumplimiento "
        "al enviar.",
    ]
    for number, step in enumerate(campaign.steps, start=1):
        template = templates[step.template]
        lines += [
            "",
            f"Paso {number}: {step.name}",
            f"  Cuándo: {step.describe()}",
            f"  Plantilla: {template.name} ({template.language}, {template.category})",
            f"  Vista previa: {preview(template, values)}",
        ]
        if template.buttons:
            lines.append(
                "  Botones: " + " | ".join(f"{b.text} ({b.payload})" for b in template.buttons)
            )
    return "\n".join(lines)


def settlement(data: dict[str, int]) -> str:
    return tabulate(
        [
            ("promesas cumplidas", data["promises_kept"]),
            ("promesas incumplidas", data["promises_broken"]),
            ("parcialidades pagadas", data["installments_paid"]),
            ("parcialidades vencidas", data["installments_missed"]),
            ("convenios terminados", data["agreements_completed"]),
        ],
        tablefmt="plain",
    )


UNMATCHED_REASONS = {
    "no_match": "ningún adeudo coincide",
    "ambiguous": "coincide con más de un adeudo",
    "debt_closed": "el adeudo ya está liquidado o cerrado",
}


def payment_import(data: dict[str, Any]) -> str:
    """Counts first, then what a person must look at: rows without a debt, rows with an
    error, overpayments. Payers' phones arrive masked."""
    lines = [
        f"Pagos de {data['source']}",
        tabulate(
            [
                ("leídos", data["read"]),
                ("registrados", data["imported"]),
                ("ya importados", data["already_imported"]),
                ("sin coincidencia", data["unmatched"]),
                ("con error", data["errors"]),
            ],
            tablefmt="plain",
        ),
        "",
        settlement(data["settlement"]),
    ]
    if data["unmatched_rows"]:
        lines += [
            "\nSin coincidencia (no se asignaron; revísalos con `cobranza payments unmatched`):",
            tabulate(
                [
                    (
                        u["line"],
                        u["transaction_id"],
                        format_mxn(to_centavos(u["amount"])),
                        u["reference"] or "—",
                        u["payer_phone"] or "—",
                        UNMATCHED_REASONS.get(u["reason"], u["reason"]),
                    )
                    for u in data["unmatched_rows"]
                ],
                headers=["línea", "transacción", "monto", "referencia", "teléfono", "motivo"],
            ),
        ]
    if data["error_rows"]:
        lines += [
            "\nCon error (no se importaron; corrige y vuelve a importar el archivo):",
            tabulate(
                [
                    (e["line"], e["transaction_id"] or "—", e["column"] or "—", e["reason"])
                    for e in data["error_rows"]
                ],
                headers=["línea", "transacción", "columna", "motivo"],
            ),
        ]
    if data["overpayments"]:
        lines += [
            "\nPagos mayores al saldo (el excedente queda registrado):",
            tabulate(
                [
                    (
                        o["line"],
                        o["transaction_id"],
                        o["contract_number"],
                        format_mxn(to_centavos(o["amount"])),
                        format_mxn(to_centavos(o["overpaid"])),
                    )
                    for o in data["overpayments"]
                ],
                headers=["línea", "transacción", "contrato", "monto", "excedente"],
            ),
        ]
    return "\n".join(lines)


def unmatched_payments(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No hay pagos sin coincidencia."
    return tabulate(
        [
            (
                u["transaction_id"],
                u["method"],
                format_mxn(to_centavos(u["amount"])),
                u["paid_at"][:16],
                u["reference"] or "—",
                UNMATCHED_REASONS.get(u["reason"], u["reason"]),
                u["source"] or "—",
            )
            for u in rows
        ],
        headers=[
            "transacción",
            "método",
            "monto",
            "pagado (UTC)",
            "referencia",
            "motivo",
            "origen",
        ],
    )


FUNNEL_HEADERS = [
    "deudores",
    "alcanzados",
    "respondieron",
    "contacto titular*",
    "promesas",
    "cumplidas",
    "incumplidas",
    "recuperado",
]
MAX_VIOLATIONS_SHOWN = 50


def _funnel_rows(table: dict[str, dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            name,
            f["debtors"],
            f["reached"],
            f["replied"],
            f["right_party_model"],
            f["promises"],
            f["kept"],
            f["broken"],
            format_mxn(Decimal(f["recovered"])),
        ]
        for name, f in table.items()
    ]


def _experiment_line(data: dict[str, Any]) -> list[str]:
    """The ordering experiment's settings (``--daily-recipients``, ``--model``, ``--order``)."""
    if "order" not in data:
        return []
    parts = []
    if data["daily_recipients"] is not None:
        parts.append(f"presupuesto diario de {data['daily_recipients']} destinatarios")
    if data["model_id"]:
        parts.append(f"modelo {data['model_id']} ({data['scored']} puntajes)")
    order = {"score": "por puntaje", "random": "aleatorio"}.get(data["order"] or "", "")
    if order:
        parts.append(f"orden {order} dentro de cada prioridad")
    return ["Experimento: " + "; ".join(parts)]


def simulation(data: dict[str, Any]) -> str:
    """``cobranza simulate``: the notice first, then the funnels, the sends, the invariants."""
    zones = data["zones"]
    lines = [
        data["notice"] + ".",
        f"Simulación: {data['days']} días desde {data['start']}, {data['debtors']} deudores en "
        f"{len(zones)} zonas horarias, semilla {data['seed']}"
        + (", solo de lunes a viernes" if data["weekdays_only"] else "")
        + (f"; {data['wall_seconds']} s" if "wall_seconds" in data else ""),
        *_experiment_line(data),
        "",
        "Embudo por tramo de atraso (al inicio):",
        tabulate(
            _funnel_rows(data["by_bucket"]) + _funnel_rows({"total": data["total"]}),
            headers=["tramo", *FUNNEL_HEADERS],
        ),
        "",
        "Embudo por persona (al inicio):",
        tabulate(_funnel_rows(data["by_persona"]), headers=["persona", *FUNNEL_HEADERS]),
        "* contacto con el titular: lo sortea el modelo; se verifica con la fecha de nacimiento"
        " registrada.",
        "",
        "Mensajes enviados por campaña:",
        tabulate(
            [*data["sent_by_campaign"].items(), ("total", data["messages_sent"])],
            headers=["campaña", "enviados"],
        ),
        "",
        tabulate(
            [
                ("detenidos por regla", _counts(data["blocked"])),
                ("descartados", _counts(data["dropped"])),
                ("seguimientos tras promesa incumplida", data["follow_ups_after_broken"]),
                ("bajas (revocaciones)", data["opt_outs"]),
                ("pagos importados", data["payments"]),
                ("pagos sin adeudo", data["unmatched_payments"]),
            ],
            tablefmt="plain",
        ),
        "",
    ]
    for experiment in data.get("experiments", []):
        lines += [experiment_report(experiment), ""]
    found = data["violations"]
    if not found:
        lines.append(
            "Invariantes: 0 violaciones (horario, consentimiento, bajas, duplicados, "
            "límites diario y semanal" + (", días hábiles" if data["weekdays_only"] else "") + ")."
        )
    else:
        lines.append(f"Invariantes: {len(found)} VIOLACIONES")
        lines += [f"  - {line}" for line in found[:MAX_VIOLATIONS_SHOWN]]
        if len(found) > MAX_VIOLATIONS_SHOWN:
            lines.append(f"  … y {len(found) - MAX_VIOLATIONS_SHOWN} más (--json las da todas)")
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "0"


def segments(data: dict[str, Any]) -> str:
    """``cobranza segments``: one row per bucket × band × persona, then the totals by band."""
    if not data["segments"]:
        return f"Cartera sin saldo pendiente al {data['as_of']}: no hay segmentos."
    rows = [
        (
            s["bucket"],
            s["band"],
            s["persona"],
            s["debtors"],
            s["balance_text"],
            "—" if s["band"] == NO_SCORE else s["expected_recovery_text"],
        )
        for s in data["segments"]
    ]
    headers = ["tramo", "banda", "persona", "deudores", "saldo", "recuperación esperada"]
    by_band = [
        (
            band,
            t["debtors"],
            t["balance_text"],
            "—" if band == NO_SCORE else t["expected_recovery_text"],
        )
        for band, t in data["by_band"].items()
    ]
    total = data["total"]
    by_band.append(
        ("total", total["debtors"], total["balance_text"], total["expected_recovery_text"])
    )
    return "\n".join(
        [
            f"Segmentos de la cartera con el score vigente al {data['as_of']} "
            "(banda A: más probable de pagar):",
            tabulate(rows, headers=headers),
            "",
            "Por banda:",
            tabulate(by_band, headers=["banda", "deudores", "saldo", "recuperación esperada"]),
            f"'{NO_SCORE}': deudores aún no calificados; no suman recuperación esperada.",
        ]
    )


NO_RATE = "—"  # a rate whose denominator is 0


def _kpi_cell(kind: str, value: Any) -> str:
    if value is None:
        return NO_RATE
    if kind == "rate":
        return f"{value * 100:.1f} %"
    if kind == "pesos":
        return format_mxn(Decimal(value))
    if kind == "hours":
        return f"{value:.1f}"
    return str(value)


def kpis_table(report: KpiReport) -> str:
    """``cobranza kpis``: the indicators down, the total and each group across."""
    lines = [f"Indicadores del {report.start} al {report.end} (días de {report.zone})"]
    if report.filters.items():
        lines.append(
            "Solo: " + ", ".join(f"{SPLIT_LABELS[d]} {v}" for d, v in report.filters.items())
        )
    if report.start_snapshot and report.end_snapshot:
        lines.append(
            f"Tramos: al inicio, corte del {report.start_snapshot}; al final, corte del "
            f"{report.end_snapshot}."
        )
    else:
        lines.append(
            "Sin cortes de tramo para cura y deterioro (feature_snapshots): `cobranza score "
            "run` los escribe cada día."
        )
    headers = ["indicador"] + [name for name, _ in report_groups(report)]
    lines += [
        "",
        tabulate(indicator_rows(report, _kpi_cell), headers=headers, disable_numparse=True),
        "",
        f"{NO_RATE}: sin base (el denominador es 0). Definiciones: docs/kpis.md.",
    ]
    return "\n".join(lines)


# --- experiments (docs/experiments.md) --------------------------------------------------------

OUTCOME_WORDS = {"wins": "gana", "loses": "pierde", "no_difference": "sin diferencia"}
SIMULATED_NOTICE = (
    "SIMULADO: números calculados de una corrida de `cobranza simulate`; los deudores simulados "
    "se comportan igual con cualquier variante, así que toda diferencia es ruido"
)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _interval(bounds: list[float]) -> str:
    return f"{bounds[0] * 100:.1f}% – {bounds[1] * 100:.1f}%"


def _points(value: float) -> str:
    return f"{value * 100:+.1f} pts"


def _difference_interval(bounds: list[float]) -> str:
    return f"{bounds[0] * 100:+.1f} a {bounds[1] * 100:+.1f} pts"


def _arm_rows(data: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            a["name"],
            a["variant"],
            f"{a['weight']}%",
            f"{a['exposed']:,}",
            f"{a['window_closed']:,}",
            f"{a['analysed']:,} / {data['planned_per_arm']:,}",
            f"{a['successes']:,}",
            _pct(a["rate"]),
            "—" if a["rate"] is None else _interval(a["interval"]),  # no base: no interval
        ]
        for a in data["arms"]
    ]


def _comparisons(data: dict[str, Any]) -> list[str]:
    confidence = data["comparisons"][0]["confidence"]
    rows = [
        [
            c["arm"],
            _points(c["difference"]),
            _difference_interval(c["interval"]),
            f"{c['z']:.2f}",
            f"{c['p_value']:.4f}",
            f"{c['adjusted_p_value']:.4f}",
            OUTCOME_WORDS[c["outcome"]],
        ]
        for c in data["comparisons"]
    ]
    return [
        f"Cada variante contra el control (diferencia con IC {confidence * 100:g}% de Newcombe; "
        "prueba z de dos proporciones"
        + ("; p ajustada por Holm" if len(rows) > 1 else "")
        + f"; nivel α {data['alpha']:g}):",
        tabulate(
            rows,
            headers=["brazo", "diferencia", "IC", "z", "p", "p Holm", "resultado"],
            disable_numparse=True,
        ),
    ]


def experiment_report(data: dict[str, Any]) -> str:
    """``cobranza experiments report NAME``: the definition, each arm's rate with its Wilson
    interval, and — only once every arm has its planned sample — the comparisons and the
    verdict; «EN CURSO» until then."""
    running = data["outcome"] == "running"
    confidence = (1 - data["alpha"]) * 100
    lines = [SIMULATED_NOTICE + "."] if data.get("simulated") else []
    lines += [
        f"Experimento {data['experiment']} ({data['source'] or 'sin archivo'}), "
        + ("activo" if data["enabled"] else "desactivado"),
        f"  {data['description']}",
        f"  Objetivo: {data['target']}; métrica: {data['metric_label']} ({data['metric']}) en "
        f"los {data['window_days']} días siguientes a la primera exposición.",
        f"  Plan: {data['planned_per_arm']:,} deudores por brazo ({data['planned_total']:,} en "
        f"total) para ver un cambio de {data['minimum_effect'] * 100:g} puntos desde "
        f"{data['baseline_rate'] * 100:g}%, con α {data['alpha']:g} y potencia "
        f"{data['power'] * 100:g}%.",
        f"  Datos al {data['as_of']}.",
        "",
        tabulate(
            _arm_rows(data),
            headers=[
                "brazo",
                "variante",
                "peso",
                "expuestos",
                "ventana cerrada",
                "analizados / plan",
                "con éxito",
                "tasa",
                f"IC {confidence:g}% (Wilson)",
            ],
            disable_numparse=True,
        ),
        "Solo cuentan los deudores cuya ventana ya cerró: uno expuesto ayer todavía no es un «no».",
        "",
    ]
    if running:
        lines.append(f"Veredicto: {data['verdict'].replace('en curso', 'EN CURSO', 1)}.")
        lines.append(
            "Sin comparación ni prueba hasta llegar al plan en todos los brazos: mirar antes y "
            "detenerse al primer p < 0.05 infla los falsos positivos (docs/experiments.md)."
        )
    else:
        lines += _comparisons(data)
        lines.append(
            f"Analizados los expuestos hasta {data['cutoff']}, cuando el último brazo llegó a su "
            "plan; los posteriores no cambian el veredicto."
        )
        lines.append(f"Veredicto (plan alcanzado): {data['verdict']}.")
    if data["other_arms"]:
        lines.append(
            "Aviso: exposiciones en brazos que ya no están en la definición (no cuentan): "
            + _counts(data["other_arms"])
        )
    return "\n".join(lines)


def experiments_list(rows: list[dict[str, Any]]) -> str:
    """``cobranza experiments list``: one line per experiment and where it stands."""
    if not rows:
        return "No hay experimentos (experiments/*.yml)."
    return tabulate(
        [
            [
                r["experiment"],
                "activo" if r["enabled"] else "desactivado",
                r["target"],
                r["metric"],
                f"{sum(a['exposed'] for a in r['arms']):,} / {r['planned_total']:,}",
                r["verdict"],
            ]
            for r in rows
        ],
        headers=["experimento", "estado", "objetivo", "métrica", "expuestos / plan", "veredicto"],
        disable_numparse=True,
    )


def experiments_summary(experiments: list[Any], directory: Any) -> str:
    """The experiments part of ``campaigns validate`` and ``experiments validate``."""
    if not experiments:
        return f"Sin experimentos en {directory}."
    lines = [f"{len(experiments)} experimentos válidos en {directory}:"]
    for e in experiments:
        arms = ", ".join(f"{a.name} → {a.variant} ({a.weight}%)" for a in e.arms)
        lines.append(
            f"  {e.name} ({'activo' if e.enabled else 'desactivado'}): {e.target.describe()}; "
            f"{e.metric.value} en {e.window_days} días; {arms}; plan {e.planned_per_arm:,} "
            f"por brazo"
        )
    return "\n".join(lines)
