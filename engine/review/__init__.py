"""What a reviewer opens or exports after an answer, and the review grid.

viewer.py      open_source: a citation's page, paragraphs or lines with the quote marked,
               and the rendered PDF page
export.py      reports of chosen answers, notes and grids, to DOCX or Markdown
grid.py        review grids: made_by per cell, runs that compute only what changed (fanned
               out over a model server), paged reading
gridjobs.py    grid runs in the background (progress, cancel, resume)
presets.py     question presets: the shipped "Contract review" and the user's own
grid_export.py a grid to XLSX and CSV
"""
