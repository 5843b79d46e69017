"""What people read of a propensity-to-pay score (docs/scoring.md): the bands and the Spanish
labels of the features a score's reasons name. Pure: the campaign loader, the services and the
CLI all take them from here, so a band or a label is defined once.

A band is a letter, ``A`` (most likely to pay) to ``E``; a debtor not scored yet has no band
(shown as :data:`NO_SCORE`). The features are named by the scoring model in English
``snake_case`` (cobranza/scoring/); :func:`feature_label` shows a name it does not know as it
is, so a new feature never breaks a report, it only waits for its label."""

from __future__ import annotations

SCORE_BANDS = ("A", "B", "C", "D", "E")
NO_SCORE = "sin score"

FEATURE_LABELS = {
    "days_past_due": "días de atraso",
    "balance": "saldo total",
    "open_balance": "saldo total",
    "original_amount": "monto original",
    "balance_ratio": "saldo respecto al monto original",
    "debts": "adeudos activos",
    "open_debts": "adeudos activos",
    "payments_30d": "pagos en 30 días",
    "payments_90d": "pagos en 90 días",
    "payments_365d": "pagos en 12 meses",
    "paid_30d": "monto pagado en 30 días",
    "paid_90d": "monto pagado en 90 días",
    "amount_paid_90d": "monto pagado en 90 días",
    "days_since_last_payment": "días desde el último pago",
    "promises_made": "promesas hechas",
    "promises_kept": "promesas cumplidas",
    "promises_broken": "promesas incumplidas",
    "promises_90d": "promesas en 90 días",
    "promises_kept_90d": "promesas cumplidas en 90 días",
    "promises_broken_90d": "promesas incumplidas en 90 días",
    "pending_promise": "promesa pendiente",
    "active_agreement": "convenio activo",
    "installments_missed": "parcialidades no pagadas",
    "installments_paid": "parcialidades pagadas",
    "messages_sent_30d": "mensajes enviados en 30 días",
    "messages_read_30d": "mensajes leídos en 30 días",
    "replies_30d": "respuestas en 30 días",
    "replies_90d": "respuestas en 90 días",
    "days_since_last_reply": "días desde la última respuesta",
    "contacts_30d": "contactos en 30 días",
    "consent": "consentimiento de WhatsApp",
    "hardship": "dificultad declarada",
    "hardship_declared": "dificultad declarada",
    "discount_requests": "solicitudes de descuento",
    "dispute": "aclaración abierta",
    "open_dispute": "aclaración abierta",
    "handoffs_90d": "atenciones con asesor en 90 días",
    "account_age_days": "antigüedad de la cuenta (días)",
    "age": "edad",
    "age_years": "edad",
}

EFFECT_LABELS = {"up": "a favor", "down": "en contra"}


def feature_label(name: object) -> str:
    """The Spanish label of a feature, or its name as it is when there is none."""
    text = str(name)
    return FEATURE_LABELS.get(text, text)


def effect_label(effect: object) -> str:
    """A reason's effect as a reader says it: "a favor" or "en contra" of paying. A number is
    read by its sign; anything else is shown as it is."""
    if isinstance(effect, bool):
        return str(effect)
    if isinstance(effect, (int, float)):
        if effect > 0:
            return EFFECT_LABELS["up"]
        return EFFECT_LABELS["down"] if effect < 0 else "neutral"
    text = str(effect)
    lowered = text.strip().lower()
    if lowered in ("up", "+", "positive", "increase", "increases"):
        return EFFECT_LABELS["up"]
    if lowered in ("down", "-", "negative", "decrease", "decreases"):
        return EFFECT_LABELS["down"]
    return text
