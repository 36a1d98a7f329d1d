// The sketch pads ready to draw at once. gradio 6.31's gr.Sketchpad starts with no tool picked, and its
// "Clear canvas" drops the tool again: a stroke before the brush is picked draws nothing (the pad says
// "select the draw tool to start"). Whenever a pad that is shown (elem_id "<name>-sketch", explorer/ui/components.py:
// digit_input) is in that state, this picks its brush (the first of its tool buttons), as a click would.
// Loaded by explorer/ui/ (launch's head).
(() => {
  let queued = false;
  function pickBrushes() {
    queued = false;
    for (const hint of document.querySelectorAll('[id$="-sketch"] .empty.wrap')) {  // "select the draw tool"
      const pad = hint.closest('[id$="-sketch"]');
      const brush = pad.querySelector("button.quite-round");
      if (brush && pad.offsetParent !== null && !brush.classList.contains("highlight")) brush.click();
    }
  }
  new MutationObserver(() => {  // a pad rendered, its tab shown, or its canvas cleared
    if (!queued) { queued = true; requestAnimationFrame(pickBrushes); }
  }).observe(document.documentElement, {childList: true, subtree: true, attributes: true,
                                        attributeFilter: ["class", "style", "hidden"]});
})();
