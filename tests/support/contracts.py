"""Generated contracts for review-grid tests: each holds some standard clauses and lacks
others, so a grid over them has found cells (with a page to cite) and not-found cells.

    paths = write_contracts(tmp_path / "inbox")             # three PDFs, three pages each
    CONTRACTS["alpha.pdf"].clauses                          # which clauses it has
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.support.fixtures import make_pdf

__all__ = ["CLAUSES", "CONTRACTS", "QUESTIONS", "Contract", "write_contracts"]

#: clause -> (the question a reviewer asks, the clause text with a {value})
CLAUSES = {
    "law": (
        "Which law governs this agreement?",
        "This Agreement is governed by the laws of {value}.",
    ),
    "noncompete": (
        "Is the supplier restricted from competing with the customer?",
        "During the term the Supplier shall not compete with the Customer or sell competing "
        "products in {value}.",
    ),
    "notice": (
        "How long is the notice period for termination for convenience?",
        "Either party may terminate this Agreement for convenience on {value} written notice "
        "to the other party.",
    ),
}
QUESTIONS = [q for q, _ in CLAUSES.values()]


@dataclass(frozen=True)
class Contract:
    parties: tuple[str, str]
    clauses: dict[str, str]  # clause -> value (absent clauses are not in the contract)


CONTRACTS = {
    "alpha.pdf": Contract(
        ("Northwind Traders Ltd.", "Contoso Shipping plc"),
        {"law": "Scotland", "noncompete": "the European Union", "notice": "sixty days"},
    ),
    "beta.pdf": Contract(
        ("Fabrikam Inc.", "Tailspin Toys LLC"),
        {"law": "the State of New York", "notice": "ninety days"},
    ),
    "gamma.pdf": Contract(
        ("Litware Corporation", "Adventure Works GmbH"),
        {"law": "Germany"},
    ),
}

#: Ordinary sections around the clauses, so that a clause is one passage among many (the
#: evidence ranker weighs question words by how rare they are across passages).
_SECTIONS = [
    ("Supply", "The Supplier delivers the products described in Schedule 1 to the Customer's "
     "sites in the quantities ordered. Each order names the products, the quantities and the "
     "delivery address."),
    ("Delivery", "Products are delivered within ten business days of an order. Risk in the "
     "products passes on delivery, and title passes on payment of the invoice."),
    ("Price", "Invoices are issued monthly and are payable within thirty days of receipt. "
     "Prices are those of Schedule 2 and exclude value added tax."),
    ("Quality", "The products conform to the specification of Schedule 3. The Customer "
     "inspects each delivery and reports any defect within five business days."),
    ("Confidentiality", "Each party keeps the other party's confidential information secret "
     "and uses it only to perform this Agreement."),
    ("Force majeure", "Neither party is liable for a delay caused by events beyond its "
     "reasonable control, such as fire, flood or strikes."),
    ("Notices", "Notices are given in writing to the addresses at the head of this Agreement "
     "and take effect on receipt."),
]  # fmt: skip


def _pages(name: str, contract: Contract) -> list[str]:
    a, b = contract.parties
    title = name.rsplit(".", 1)[0].upper()
    first = [f"{title} SUPPLY AGREEMENT", "", f"This Supply Agreement is made between {a}",
             f"(the Supplier) and {b} (the Customer).", ""]  # fmt: skip
    for i, (head, text) in enumerate(_SECTIONS[:3], 1):
        first += [f"{i}. {head}", text, ""]
    second = ["4. Terms"]
    for clause, (_, text) in CLAUSES.items():
        if clause in contract.clauses:
            second.append(text.format(value=contract.clauses[clause]))
    second.append("")
    for i, (head, text) in enumerate(_SECTIONS[3:5], 5):
        second += [f"{i}. {head}", text, ""]
    third = []
    for i, (head, text) in enumerate(_SECTIONS[5:], 7):
        third += [f"{i}. {head}", text, ""]
    third += ["Signed for the Supplier and for the Customer."]
    return ["\n".join(_wrap(line) for line in page) for page in (first, second, third)]


def _wrap(line: str, width: int = 90) -> str:
    """PDF text lines must fit the page: wrap long lines at word boundaries."""
    words, out, cur = line.split(), [], ""
    for word in words:
        if cur and len(cur) + 1 + len(word) > width:
            out.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    out.append(cur)
    return "\n".join(out)


def write_contracts(folder: Path) -> list[Path]:
    """The contracts of `CONTRACTS` as three-page PDFs in `folder` (the clauses on page 2)."""
    return [make_pdf(Path(folder) / name, _pages(name, c)) for name, c in CONTRACTS.items()]
