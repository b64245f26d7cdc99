"""Write the sample document offered on first run: a fictional 3-page services agreement with
distinctive facts on each page (term on p. 1, fees on p. 2, termination and law on p. 3).

    python assets/sample/make_sample.py            # writes assets/sample/services-agreement.pdf

The PDF is built by the repository's one minimal PDF writer (tests/support/pdf.py: Helvetica,
WinAnsi text, no dependencies), so the bytes are the same on every machine and the file stays a
few KB.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from a checkout

from tests.support.pdf import pdf_document, pdf_string

TITLE = "MASTER SERVICES AGREEMENT"

# Each page: a list of (heading, paragraph) pairs; a None heading is a plain paragraph.
PAGES: list[list[tuple[str | None, str]]] = [
    [
        (
            None,
            "This Master Services Agreement is made between Harbor Lane Logistics GmbH, "
            "Speicherstadt 4, 20457 Hamburg, Germany (the Client) and Cobalt Peak Software Ltd., "
            "Albert Quay 11, Cork, Ireland (the Provider).",
        ),
        (
            "1. Term",
            "This Agreement starts on 1 March 2024 and runs for an initial term of thirty-six "
            "(36) months. It renews automatically for successive twelve-month periods unless "
            "either party gives notice under clause 9.",
        ),
        (
            "2. Services",
            "The Provider will operate the Client's fleet routing platform Tidewater, including "
            "hosting, maintenance, security updates and incident support around the clock.",
        ),
        (
            "3. Service levels",
            "The platform will be available at least 99.7% of each calendar month. Priority-1 "
            "incidents are answered within 30 minutes and resolved within 4 hours.",
        ),
        (
            "4. Key personnel",
            "The Provider names Dr. Ines Marlow as service manager. She may not be replaced "
            "without the Client's prior written consent, which may not be unreasonably withheld.",
        ),
    ],
    [
        (
            "5. Fees",
            "The Client pays a fixed monthly fee of EUR 18,750 (eighteen thousand seven hundred "
            "fifty euros), invoiced in advance on the first business day of each month.",
        ),
        (
            "6. Payment terms",
            "Invoices are due within 45 days of receipt. Late payments bear interest at 1.5% per "
            "month from the due date until payment is received.",
        ),
        (
            "7. Price adjustment",
            "From 1 March 2025 the Provider may raise the monthly fee once a year by at most 3%, "
            "giving the Client at least 60 days written notice.",
        ),
        (
            "8. Service credits",
            "For each full 0.1% of availability below the target in clause 3, the Client receives "
            "a credit of 2% of the monthly fee, capped at 20% of the fee for that month.",
        ),
    ],
    [
        (
            "9. Termination",
            "Either party may terminate this Agreement for convenience with ninety (90) days "
            "written notice, but not before 1 March 2025. Either party may terminate at once for "
            "a material breach that is not cured within 30 days of written notice.",
        ),
        (
            "10. Liability",
            "Each party's total liability is capped at the fees paid in the twelve (12) months "
            "before the claim. The cap does not apply to breaches of confidentiality or of data "
            "protection law.",
        ),
        (
            "11. Confidentiality",
            "Confidentiality obligations survive for five (5) years after this Agreement ends.",
        ),
        (
            "12. Governing law",
            "This Agreement is governed by the laws of Ireland. The courts of Dublin have "
            "exclusive jurisdiction over any dispute arising from it.",
        ),
        (
            None,
            "Signed for Harbor Lane Logistics GmbH by Katrin Albers, Managing Director, on "
            "12 February 2024, and for Cobalt Peak Software Ltd. by Sean Whelan, Chief Executive, "
            "on 14 February 2024.",
        ),
    ],
]


def _page_ops(index: int, blocks: list[tuple[str | None, str]]) -> bytes:
    """Content stream of one page: title (first page), headings in bold, wrapped paragraphs."""
    ops = [b"BT"]
    y = 720
    if index == 0:
        ops.append(b"/F2 16 Tf 1 0 0 1 72 %d Tm %s Tj" % (y, pdf_string(TITLE)))
        y -= 34
    for heading, paragraph in blocks:
        if heading:
            ops.append(b"/F2 12 Tf 1 0 0 1 72 %d Tm %s Tj" % (y, pdf_string(heading)))
            y -= 17
        ops.append(b"/F1 11 Tf")
        for line in textwrap.wrap(paragraph, width=86):
            ops.append(b"1 0 0 1 72 %d Tm %s Tj" % (y, pdf_string(line)))
            y -= 15
        y -= 12
    footer = f"Harbor Lane / Cobalt Peak - Master Services Agreement - page {index + 1} of 3"
    ops.append(b"/F1 8 Tf 1 0 0 1 72 40 Tm %s Tj" % pdf_string(footer))
    ops.append(b"ET")
    return b"\n".join(ops) + b"\n"


def pdf_bytes() -> bytes:
    """The sample agreement as PDF bytes (deterministic)."""
    contents = [_page_ops(index, blocks) for index, blocks in enumerate(PAGES)]
    return pdf_document(contents, fonts={"F1": "Helvetica", "F2": "Helvetica-Bold"})


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("services-agreement.pdf")
    target.write_bytes(pdf_bytes())
    print(f"wrote {target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
