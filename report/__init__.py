"""The run report and the model card: what a person reads about a run.

`aet run` writes `<output>/report/index.html` after every run, succeeded or failed, and
`aet report RUN_DIR [--compare OTHER]` rebuilds it. The page is one file with its plots
inline (matplotlib SVG): it opens from file:// with no network, no script and no web
font. The model card (`model_card.md`, `model_card.json`) travels in every pushed
version's assets.extra/ and holds no row of the data.

- `run_record`: what a run left behind (summary, history, statistics, anomalies);
- `plots`: the figures, as inline SVG;
- `sections`: the report's sections, each kind adding its own (`DataKind.report_sections`);
- `model_card`: the card's content, shared by the report and the pushed model;
- `render`: the HTML page.
"""
