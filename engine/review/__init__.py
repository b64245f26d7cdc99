"""What a reviewer opens or exports after an answer.

viewer.py      open_source: a citation's page, paragraphs or lines with the quote marked,
               and the rendered PDF page
export.py      reports of chosen answers and notes, to DOCX or Markdown
"""
