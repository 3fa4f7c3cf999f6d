(update) => {
  // A map is drawn once (the gallery); each analysis or live frame sends only its own points (the
  // traces tagged meta "live", a few hundred bytes: {map: element id, dims, traces}) and they are
  // swapped in here with plotly's own calls, instead of sending and redrawing every gallery point.
  if (!update || !update.map) return;
  const find = (id) => document.querySelector(`#${id} .js-plotly-plot`);
  const apply = (plot, u) => {
    if (!plot || !plot._fullData || !window.Plotly || !u) return;
    const is3d = plot._fullData.some((d) => d.type === 'scatter3d');
    if (is3d !== (u.dims === 3)) return;  // the map is being redrawn in the other mode, with these points
    const old = plot.data.map((t, i) => (t.meta === 'live' ? i : -1)).filter((i) => i >= 0);
    const same = old.length === u.traces.length && old.every((i, j) => plot.data[i].name === u.traces[j].name);
    if (same && !is3d) {
      // The same points moved (the usual case: another click, the next live frame): plotly moves
      // these SVG traces alone; adding or removing traces would redraw every WebGL gallery point
      // (100 ms at 2,500 points, 2 s at 200,000 in software rendering; this takes ~30 ms).
      // A move the next live frame interrupts is rejected with no reason; the next frame's move has
      // taken its place, so that rejection is not an error (unhandled, the page reported one).
      window.Plotly.animate(plot, {data: u.traces.map((t) => ({x: t.x, y: t.y})), traces: old},
        {transition: {duration: 0}, frame: {duration: 0, redraw: false}, mode: 'immediate'})
        .catch(() => {});
      return;
    }
    if (old.length) window.Plotly.deleteTraces(plot, old);
    window.Plotly.addTraces(plot, structuredClone(u.traces));
  };
  window.__mmdemoLive = window.__mmdemoLive || {};
  window.__mmdemoLive[update.map] = update;
  apply(find(update.map), update);
  if (!window.__mmdemoLiveKeeper) {
    // A map redrawn from its stored figure (the gallery alone) gets its points back.
    window.__mmdemoLiveKeeper = setInterval(() => {
      for (const [id, u] of Object.entries(window.__mmdemoLive)) {
        const plot = find(id);
        if (plot && plot.data && !plot.data.some((t) => t.meta === 'live')) apply(plot, u);
      }
    }, 500);
  }
}
