() => {
  // gr.Plot has no click event. On each gallery map, a plotly_click stores the clicked point's
  // person id (its customdata) and presses the hidden "show clicked" button, whose event reads it.
  // plotly 7 sends numpy arrays as {dtype, bdata}: the decoded values are in _fullData, not data.
  const attach = () => {
    document.querySelectorAll('#explore-map .js-plotly-plot').forEach((plot) => {
      if (plot.dataset.bridge) return;
      plot.dataset.bridge = '1';
      plot.on('plotly_click', (ev) => {
        const pt = ev.points && ev.points[0];
        if (!pt) return;
        const data = plot._fullData[pt.curveNumber];
        const cd = data && data.customdata ? data.customdata[pt.pointNumber] : pt.customdata;
        if (cd === undefined || cd === null) return;
        window.__mmdemoClicked = String(cd);
        const btn = document.querySelector('#clicked-person button, button#clicked-person');
        if (btn) btn.click();
      });
    });
  };
  // The plot is re-rendered whenever the map is redrawn: attach to each new one.
  setInterval(attach, 700);
}
