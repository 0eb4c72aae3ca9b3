"""Plain words for the codes the debugger pages show: every postback reason, every step of the
inbound pipeline, every delivery state. The codes themselves live with their owners
(conversions/reasons.py, conversions/service.py, deliveries/schemas.py)."""

from __future__ import annotations

from postback.conversions.reasons import Reason

REASONS: dict[Reason, str] = {
    Reason.ACCEPTED: "Accepted: a new conversion was recorded for the click.",
    Reason.DUPLICATE: (
        "Already counted: this click, event and transaction ID arrived before, so nothing "
        "changed (the network's duplicate rule)."
    ),
    Reason.UPDATED: (
        "Updated the click's existing conversion (status or payout), as the network's "
        "duplicate rule asks."
    ),
    Reason.MISSING_CLICKID: (
        "No click ID in the request: none of clickid, cid, subid and the other aliases had a "
        "value. The postback URL given to the network must pass the click ID back."
    ),
    Reason.INVALID_PAYOUT: (
        "The payout, com or comperc is not an amount we can read, such as 2.50, or it is "
        "negative, above the maximum (10,000,000 in the account currency, also for an "
        "accumulated total), a commission above the payout, or a comperc above 100."
    ),
    Reason.INVALID_CURRENCY: (
        "The currency is not a three-letter code the exchange-rate table knows, such as USD or EUR."
    ),
    Reason.NO_RATE: (
        "The exchange-rate table's newest rate for this currency is too old "
        "(POSTBACK_FX_MAX_RATE_AGE), so the payout is not converted with it."
    ),
    Reason.INVALID_STATUS: (
        "The status is not approved, pending, rejected, refunded or chargeback, and the "
        "network's status map does not translate it."
    ),
    Reason.INVALID_EVENT: (
        "The event name is not valid: letters, digits, _ . and - only, at most 50 characters."
    ),
    Reason.INVALID_BODY: "The POST body could not be read as a form or as a JSON object.",
    Reason.PLACEHOLDER_VALUE: (
        "A value is an unreplaced macro such as {clickid} or ${SUBID}: the network sent its "
        "template without filling it in. Check the macro names in the postback URL."
    ),
    Reason.BAD_TOKEN: (
        "The secret token is missing or wrong: the postback URL must carry the network's "
        "token exactly as its page shows it."
    ),
    Reason.IP_NOT_ALLOWED: "The request came from an IP address outside the network's allowlist.",
    Reason.BAD_SIGNATURE: (
        "The HMAC signature is missing, does not match the network's signing secret, or is too old."
    ),
    Reason.REPLAYED_SIGNATURE: (
        "This exact signed request was received before: a signature counts once. A network "
        "that sends a postback again must sign it again, with a new timestamp."
    ),
    Reason.WRONG_NETWORK: (
        "The click belongs to an offer of another network, and only that network may report "
        "its conversions: the postback came in on a different network's URL or key. Check "
        "which network the offer is set to, and that the network uses its own postback URL."
    ),
    Reason.NO_NETWORK: (
        "The click's offer has no network, so no secret token can vouch for a postback about "
        "it. Give the offer the network that sends its postbacks, or enter the conversion "
        "through the conversions API."
    ),
    Reason.UNKNOWN_NETWORK: (
        "The address is not a postback URL we know: no network has the key in its path."
    ),
    Reason.UNKNOWN_CLICK: (
        "No click has this click ID here. Usually the offer URL does not pass our {clickid} "
        "macro on, the network sent back a different parameter, or the postback was meant "
        "for another tracker."
    ),
    Reason.PIXEL_DISABLED: (
        "A conversion pixel fired for a click of a campaign that does not accept the pixel. "
        "Turn it on in the campaign's settings if the advertiser's pages use it; anyone who "
        "sees their own click ID can fire it, so it stays off otherwise."
    ),
    Reason.OUTSIDE_WINDOW: (
        "The click is older than the network's lookback window, so the conversion is not "
        "attributed to it."
    ),
    Reason.STATUS_LOCKED: (
        "The conversion is refunded or charged back, or the postback would move it back to an "
        "earlier status: only an admin's status change (API or dashboard) may do that."
    ),
    Reason.METHOD_NOT_ALLOWED: "Postbacks must be sent with GET or POST.",
    Reason.BODY_TOO_LARGE: "The request body is larger than POSTBACK_MAX_BODY_BYTES allows.",
    Reason.RATE_LIMITED: (
        "Too many postbacks per second from this IP address (POSTBACK_POSTBACK_RATE_LIMIT); "
        "the sender should try again later."
    ),
    Reason.SERVER_ERROR: (
        "A fault on our side, such as the database being unavailable: the sender should try "
        "again, and the server log has the details."
    ),
}

STEPS: dict[str, str] = {
    "receive": "Read the request: route, method and parameters",
    "read_fields": "Read the postback's fields (click ID, payout, status...)",
    "require_clickid": "Find a click ID",
    "network_from_path": "Find the network named in the URL",
    "authenticate": "Check the token, IP allowlist and signature",
    "authenticate.token": "Check the secret token",
    "authenticate.ip": "Check the IP allowlist",
    "authenticate.signature": "Check the HMAC signature",
    "find_click": "Find the click",
    "network_from_click": "Find the network of the click's offer (it must be the URL's network)",
    "parse_values": "Read payout, currency, status and event",
    "check_window": "Check the lookback window",
    "record_conversion": "Record the conversion (duplicate rules)",
}

STATES: dict[str, str] = {
    "pending": "waiting for its next attempt",
    "delivering": "being sent by a worker now",
    "delivered": "the receiver answered 2xx",
    "dead": "gave up: attempts used up or a permanent error",
    "disabled": "the receiver answered 410 Gone; its postbacks are switched off",
}


def reason_text(code: str | None) -> str:
    """The reason in plain words; a code this version does not know is shown as it is."""
    try:
        return REASONS[Reason(code or "")]
    except ValueError:
        return f"Reason code {code!r}."


def step_text(step: str) -> str:
    return STEPS.get(step, step.replace("_", " "))
