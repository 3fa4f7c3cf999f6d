() => {
  // A map of more people than it draws (layout.meta.detail: a fixed sample of them over the density
  // of all) shows every person in view once zoomed in: after each zoom or pan it asks the server for
  // the people in the window (the hidden "map detail" button's event) and `MAP_DETAIL_APPLY` puts
  // them in place of the gallery traces' points. Seeing the whole map again brings back the sample.
  const MAPS = ['analyze-map', 'explore-map'];
  const gallery = (plot) => plot.data.map((t, i) => (t.type === 'scattergl' ? i : -1)).filter((i) => i >= 0);
  const ranges = (plot) => ({x: plot._fullLayout.xaxis.range.slice(), y: plot._fullLayout.yaxis.range.slice()});
  const shows = (r, extent) => {
    const [x0, x1] = [...r.x].sort((a, b) => a - b), [y0, y1] = [...r.y].sort((a, b) => a - b);
    return x0 <= extent[0] && x1 >= extent[1] && y0 <= extent[2] && y1 >= extent[3];
  };
  const ask = (id, plot) => {
    const detail = plot.layout && plot.layout.meta && plot.layout.meta.detail;
    if (!detail || !plot._fullLayout || !plot._fullLayout.xaxis) return;
    const view = ranges(plot), key = JSON.stringify(view) + detail.colour_by;
    if (key === plot.__mmdemoAsked) return;
    plot.__mmdemoAsked = key;
    if (shows(view, detail.extent)) {  // the whole map: the sample the figure came with
      const base = plot.__mmdemoBase;
      if (base && plot.__mmdemoDetailed) {
        window.Plotly.restyle(plot, {x: base.x, y: base.y, customdata: base.customdata}, base.traces);
        plot.__mmdemoDetailed = false;
      }
      return;
    }
    // half a view more on every side: plotly may still widen an axis to keep the map's aspect, and a
    // short pan then finds its people already drawn
    const pad = (r) => { const d = (r[1] - r[0]) / 2; return [r[0] - d, r[1] + d]; };
    window.__mmdemoViewport = JSON.stringify({map: id, colour_by: detail.colour_by, x: pad(view.x), y: pad(view.y)});
    const button = document.querySelector('#map-detail button, button#map-detail');
    if (button) button.click();
  };
  const attach = () => {
    for (const id of MAPS) {
      const plot = document.querySelector(`#${id} .js-plotly-plot`);
      if (!plot || !plot.data || !plot.layout) continue;
      if (plot.__mmdemoLayout !== plot.layout) {  // a new figure: remember the points it came with
        plot.__mmdemoLayout = plot.layout;
        const traces = gallery(plot);
        const data = traces.map((i) => plot._fullData[i] || {});
        plot.__mmdemoBase = {traces, x: data.map((d) => d.x), y: data.map((d) => d.y), customdata: data.map((d) => d.customdata)};
        plot.__mmdemoDetailed = false;
        plot.__mmdemoAsked = undefined;
        ask(id, plot);  // redrawn while zoomed in (uirevision keeps the view): fill the view again
      }
      if (plot.dataset.detail) continue;
      plot.dataset.detail = '1';
      let timer = null;
      plot.on('plotly_relayout', () => {
        clearTimeout(timer);
        timer = setTimeout(() => ask(id, plot), 250);
      });
    }
  };
  setInterval(attach, 700);
}
