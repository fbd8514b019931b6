"""Identifiers of the synthetic population: SIREN, SIRET, URSSAF accounts, DARES demand ids.

All identifiers are strings (leading zeros are common). They are derived from global
indexes by affine permutations modulo a power of ten, so that they are unique, look
random, and depend only on ``(seed, index)`` — never on how the generation was chunked.

* SIREN = 8 digits + a Luhn check digit (INSEE rule). Company SIRENs never start with
  ``9`` (their 8-digit base is below 90,000,000); the ``9…`` range is reserved for the
  "unknown SIREN/SIRET" broken lines, so those can never collide with a real company.
* SIRET = SIREN + NIC, NIC = 4 digits + a check digit chosen so that the whole 14-digit
  SIRET satisfies the Luhn rule.
* URSSAF account ("compte") = 3-digit URSSAF code + 15 digits, 18 digits in all. The code
  ``999`` is reserved for accounts absent from the admin_urssaf mapping (broken lines).
* DARES short-time-work demand id (``ID_DA``) = 9 unique digits + a 2-digit suffix: the
  features step links demands and consumptions by the first 9 characters.

Failure modes: ValueError when an index exceeds the capacity of its permutation.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = [
    "SIREN_CAPACITY",
    "UNKNOWN_URSSAF_CODE",
    "account_number",
    "demand_id",
    "is_luhn_valid",
    "litigation_number",
    "luhn_check_digit",
    "siren_from_index",
    "siret",
    "unknown_account",
    "unknown_siren",
]

#: Number of distinct company SIRENs available (8-digit bases below 90,000,000).
SIREN_CAPACITY = 90_000_000
_SIREN_MULTIPLIER = 48_271 * 7  # coprime with 2, 3 and 5, hence with 9e7
_ACCOUNT_MODULUS = 10**15
_ACCOUNT_MULTIPLIER = 6_364_136_223_846_793 % _ACCOUNT_MODULUS | 1  # odd, not a multiple of 5
_DEMAND_MODULUS = 10**9
_DEMAND_MULTIPLIER = 387_420_489  # 3**18: coprime with 10
UNKNOWN_URSSAF_CODE = "999"


def luhn_check_digit(digits: str) -> str:
    """The digit ``d`` such that ``digits + d`` passes the Luhn test."""
    total = 0
    # Walking from the right of the final number: the check digit is position 1 (not doubled),
    # so the last digit of ``digits`` is position 2 (doubled).
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def is_luhn_valid(number: str) -> bool:
    """True when ``number`` (ASCII digits) passes the Luhn test."""
    return luhn_check_digit(number[:-1]) == number[-1]


def _offset(seed: int, salt: str, modulus: int) -> int:
    """A seed-dependent offset spreading identifiers over their whole range."""
    digest = hashlib.blake2b(f"{seed}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % modulus


def _permute(index: int, multiplier: int, offset: int, modulus: int) -> int:
    if not 0 <= index < modulus:
        raise ValueError(f"identifier index {index} outside [0, {modulus})")
    return (multiplier * index + offset) % modulus


def siren_from_index(company_index: int, seed: int) -> str:
    """SIREN of the company of global index ``company_index`` (unique per seed)."""
    base = _permute(company_index, _SIREN_MULTIPLIER, _offset(seed, "siren", SIREN_CAPACITY), SIREN_CAPACITY)
    head = f"{base:08d}"
    return head + luhn_check_digit(head)


def siret(siren: str, site_number: int) -> str:
    """SIRET of the ``site_number``-th establishment (0-based) of ``siren``: NIC = 4 digits
    ``site_number + 1`` plus the Luhn-completing digit."""
    if not 0 <= site_number < 9999:
        raise ValueError(f"site number {site_number} outside [0, 9999)")
    head = siren + f"{site_number + 1:04d}"
    return head + luhn_check_digit(head)


def account_number(urssaf_code: str, establishment_index: int, version: int, seed: int) -> str:
    """18-digit URSSAF account of an establishment; ``version`` 0 is the first account, 1
    the account opened after a transfer."""
    if version not in (0, 1):
        raise ValueError(f"account version must be 0 or 1, got {version}")
    body = _permute(2 * establishment_index + version, _ACCOUNT_MULTIPLIER,
                    _offset(seed, "account", _ACCOUNT_MODULUS), _ACCOUNT_MODULUS)
    return f"{urssaf_code}{body:015d}"


def demand_id(establishment_index: int, demand_number: int, seed: int) -> str:
    """11-character DARES demand id, unique in its first 9 characters for up to 16 demands
    per establishment."""
    if not 0 <= demand_number < 16:
        raise ValueError(f"demand number {demand_number} outside [0, 16)")
    body = _permute(16 * establishment_index + demand_number, _DEMAND_MULTIPLIER,
                    _offset(seed, "demand", _DEMAND_MODULUS), _DEMAND_MODULUS)
    return f"{body:09d}01"


def litigation_number(urssaf_code: str, establishment_index: int, step: int, seed: int) -> str:
    """13-character URSSAF litigation file number (``Numero_structure`` of delai lines)."""
    body = _permute((establishment_index * 4096 + step) % 10**10, _DEMAND_MULTIPLIER,
                    _offset(seed, "structure", 10**10), 10**10)
    return f"{urssaf_code}{body:010d}"


def unknown_siren(rng: np.random.Generator) -> str:
    """A valid-looking SIREN (Luhn-correct) in the reserved ``9…`` range: no company has it."""
    head = "9" + f"{int(rng.integers(0, 10**7)):07d}"
    return head + luhn_check_digit(head)


def unknown_account(rng: np.random.Generator) -> str:
    """An 18-digit account with the reserved URSSAF code: absent from every admin_urssaf file."""
    return UNKNOWN_URSSAF_CODE + f"{int(rng.integers(0, 10**15)):015d}"
