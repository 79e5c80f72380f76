"""The study's report: the scenario table and importance sentence (`frontier.py`, pure; the front itself is
`distilbo.pareto`), the HTML page, plots and CSV (`html.py`), and the `distilbo report` glue (`command.py`)."""
