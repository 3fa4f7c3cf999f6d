(update) => {
  // The people in view on a large map (`gallery_window`): each gallery trace's points replaced.
  if (!update || !update.map || !window.Plotly) return;
  const plot = document.querySelector(`#${update.map} .js-plotly-plot`);
  if (!plot || !plot.data) return;
  const byName = Object.fromEntries(update.traces.map((t) => [t.name, t]));
  const traces = [], x = [], y = [], customdata = [];
  plot.data.forEach((t, i) => {
    const u = t.type === 'scattergl' ? byName[t.name] : undefined;
    if (!u) return;
    traces.push(i); x.push(u.x); y.push(u.y); customdata.push(u.customdata);
  });
  if (!traces.length) return;
  window.Plotly.restyle(plot, {x, y, customdata}, traces);
  plot.__mmdemoDetailed = true;
}
