// Pan and zoom for the lineage drawings (inline SVG made by Graphviz).
//
// Each <div class="graph-viewport" data-config="ID"> holds one <svg>; its
// settings come from the <script type="application/json" id="ID"> written by
// Django's json_script.  Drag to pan, wheel or the +/- buttons to zoom, 0 or
// "fit" to see everything; with the viewport focused, arrow keys pan and
// + / - / 0 zoom.  A drag never follows the link under the pointer.
(function () {
  "use strict";

  function readConfig(viewport) {
    var id = viewport.getAttribute("data-config");
    var element = id ? document.getElementById(id) : null;
    if (!element) {
      return {};
    }
    try {
      return JSON.parse(element.textContent);
    } catch (error) {
      return {};
    }
  }

  function PanZoom(viewport) {
    this.viewport = viewport;
    this.svg = viewport.querySelector("svg");
    this.config = readConfig(viewport);
    if (!this.svg) {
      return;
    }
    var box = this.svg.viewBox && this.svg.viewBox.baseVal;
    if (!box || !box.width) {
      var width = parseFloat(this.svg.getAttribute("width")) || 800;
      var height = parseFloat(this.svg.getAttribute("height")) || 600;
      this.svg.setAttribute("viewBox", "0 0 " + width + " " + height);
      box = this.svg.viewBox.baseVal;
    }
    this.full = { x: box.x, y: box.y, width: box.width, height: box.height };
    this.view = { x: box.x, y: box.y, width: box.width, height: box.height };
    // Graphviz sets a fixed size in points; let CSS size the element instead.
    this.svg.removeAttribute("width");
    this.svg.removeAttribute("height");
    this.svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    this.dragging = null;
    this.moved = false;
    this.bind();
    this.fit();
    if (this.config.focus) {
      this.focusNode(this.config.focus);
    }
  }

  PanZoom.prototype.apply = function () {
    var v = this.view;
    this.svg.setAttribute("viewBox", [v.x, v.y, v.width, v.height].join(" "));
  };

  // Pixels per SVG unit at the drawing's natural size (Graphviz works in points).
  var NATURAL_SCALE = 96 / 72;

  // Size the viewport to the drawing (up to its CSS height), then show all of it,
  // never enlarged beyond its natural size.
  PanZoom.prototype.fit = function () {
    var f = this.full;
    var pad = 12;
    var maxHeight = parseFloat(getComputedStyle(this.viewport).maxHeight) || 560;
    var wanted = Math.max(220, Math.min(maxHeight, f.height * NATURAL_SCALE + 2 * pad));
    this.viewport.style.height = wanted + "px";
    var rect = this.viewport.getBoundingClientRect();
    if (!rect.width || !rect.height) {
      this.view = { x: f.x, y: f.y, width: f.width, height: f.height };
      this.apply();
      return;
    }
    var scale = Math.min((rect.width - 2 * pad) / f.width, (rect.height - 2 * pad) / f.height, NATURAL_SCALE);
    var width = rect.width / scale;
    var height = rect.height / scale;
    this.fitWidth = width;
    this.view = {
      x: f.x - (width - f.width) / 2,
      y: f.y - (height - f.height) / 2,
      width: width,
      height: height,
    };
    this.apply();
  };

  // Centre the focused node at a readable size when the whole drawing is too small to read.
  PanZoom.prototype.focusNode = function (key) {
    var node = this.svg.querySelector('[id="node_' + key + '"]');
    if (!node || typeof node.getBBox !== "function") {
      return;
    }
    var rect = this.viewport.getBoundingClientRect();
    if (!rect.width || rect.width / this.view.width >= 0.6) {
      return;
    }
    var box = node.getBBox();
    var x = box.x + box.width / 2;
    var y = box.y + box.height / 2;
    var group = node.parentNode;
    if (group && group.transform && group.transform.baseVal.numberOfItems) {
      var m = group.transform.baseVal.consolidate().matrix;
      var tx = m.a * x + m.c * y + m.e;
      var ty = m.b * x + m.d * y + m.f;
      x = tx;
      y = ty;
    }
    var width = Math.min(rect.width / 0.9, this.full.width);
    var height = (width * rect.height) / rect.width;
    this.view = { x: x - width / 2, y: y - height / 2, width: width, height: height };
    this.apply();
  };

  PanZoom.prototype.zoom = function (factor, clientX, clientY) {
    var rect = this.svg.getBoundingClientRect();
    var v = this.view;
    var px = clientX === undefined ? 0.5 : (clientX - rect.left) / rect.width;
    var py = clientY === undefined ? 0.5 : (clientY - rect.top) / rect.height;
    var width = v.width / factor;
    var height = v.height / factor;
    var maxWidth = Math.max(this.full.width * 4, (this.fitWidth || 0) * 2);
    var minWidth = Math.min(this.full.width, 60);
    if (width > maxWidth || width < minWidth) {
      return;
    }
    this.view = {
      x: v.x + (v.width - width) * px,
      y: v.y + (v.height - height) * py,
      width: width,
      height: height,
    };
    this.apply();
  };

  PanZoom.prototype.panBy = function (dxPixels, dyPixels) {
    var rect = this.svg.getBoundingClientRect();
    var scale = Math.max(this.view.width / rect.width, this.view.height / rect.height);
    this.view.x -= dxPixels * scale;
    this.view.y -= dyPixels * scale;
    this.apply();
  };

  PanZoom.prototype.bind = function () {
    var self = this;
    var viewport = this.viewport;

    viewport.addEventListener(
      "wheel",
      function (event) {
        event.preventDefault();
        self.zoom(event.deltaY < 0 ? 1.2 : 1 / 1.2, event.clientX, event.clientY);
      },
      { passive: false }
    );

    viewport.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) {
        return;
      }
      self.dragging = { x: event.clientX, y: event.clientY };
      self.moved = false;
    });
    window.addEventListener("pointermove", function (event) {
      if (!self.dragging) {
        return;
      }
      var dx = event.clientX - self.dragging.x;
      var dy = event.clientY - self.dragging.y;
      if (!self.moved && Math.abs(dx) + Math.abs(dy) < 4) {
        return;
      }
      if (!self.moved) {
        self.moved = true;
        viewport.classList.add("dragging");
      }
      self.dragging = { x: event.clientX, y: event.clientY };
      self.panBy(dx, dy);
    });
    window.addEventListener("pointerup", function () {
      self.dragging = null;
      viewport.classList.remove("dragging");
    });
    // A drag that ends on a node is a pan, not a click on its link.
    viewport.addEventListener(
      "click",
      function (event) {
        if (self.moved) {
          event.preventDefault();
          event.stopPropagation();
          self.moved = false;
        }
      },
      true
    );

    viewport.addEventListener("keydown", function (event) {
      if (event.target !== viewport) {
        return;
      }
      var step = 60;
      var handled = true;
      switch (event.key) {
        case "+":
        case "=":
          self.zoom(1.25);
          break;
        case "-":
        case "_":
          self.zoom(0.8);
          break;
        case "0":
          self.fit();
          break;
        case "ArrowLeft":
          self.panBy(step, 0);
          break;
        case "ArrowRight":
          self.panBy(-step, 0);
          break;
        case "ArrowUp":
          self.panBy(0, step);
          break;
        case "ArrowDown":
          self.panBy(0, -step);
          break;
        default:
          handled = false;
      }
      if (handled) {
        event.preventDefault();
      }
    });

    var card = viewport.closest(".graph-card") || document;
    card.querySelectorAll("[data-graph-action]").forEach(function (button) {
      button.addEventListener("click", function () {
        var action = button.getAttribute("data-graph-action");
        if (action === "zoom-in") {
          self.zoom(1.25);
        } else if (action === "zoom-out") {
          self.zoom(0.8);
        } else if (action === "fit") {
          self.fit();
        }
      });
    });
  };

  // Pan/zoom every drawing under `root` that has none yet; graph_job.js calls it
  // again after swapping a finished background drawing into the page.
  // A drawing too large to inline comes from data-svg-url (a worker's stored drawing).
  function load(viewport) {
    var url = viewport.getAttribute("data-svg-url");
    viewport.removeAttribute("data-svg-url");
    fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (text) {
        var svg = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
        if (!svg || svg.nodeName.toLowerCase() !== "svg") {
          throw new Error("not an SVG drawing");
        }
        viewport.replaceChildren(document.importNode(svg, true));
        viewport.panZoom = new PanZoom(viewport);
      })
      .catch(function (error) {
        viewport.textContent = "The drawing could not be loaded (" + error.message + "); reload the page.";
      });
  }

  function attach(root) {
    (root || document).querySelectorAll(".graph-viewport").forEach(function (viewport) {
      if (viewport.hasAttribute("data-svg-url")) {
        load(viewport);
      } else if (!viewport.panZoom) {
        viewport.panZoom = new PanZoom(viewport);
      }
    });
  }

  window.mlmdGraph = { attach: attach };
  attach(document);
})();
