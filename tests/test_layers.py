"""test_layers — the C core's folders are layers: lib < zone < query < server, and an
#include may only point to the same layer or a lower one (never up, never a cycle)."""
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "cython_ext", "csrc")
# Lowest first: a layer may include itself and the layers before it.
LAYERS = ("lib", "zone", "query", "server")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def resolve(including, target):
    """The csrc-relative path an #include "target" in file `including` names: the
    including file's folder first (as the C preprocessor searches), then csrc/."""
    here = os.path.join(os.path.dirname(os.path.join(CSRC, including)), target)
    if os.path.exists(here):
        return os.path.relpath(here, CSRC)
    if os.path.exists(os.path.join(CSRC, target)):
        return os.path.normpath(target)
    return None


def include_graph(csrc=CSRC):
    """{source file: [included files]} over csrc, csrc-relative paths."""
    graph = {}
    for dirpath, _, files in os.walk(csrc):
        for f in files:
            if not f.endswith((".c", ".h")):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), csrc)
            with open(os.path.join(dirpath, f), encoding="utf-8") as fh:
                text = fh.read()
            graph[rel] = [resolve(rel, t) or t for t in INCLUDE.findall(text)]
    return graph


def layer_of(rel):
    return rel.split(os.sep, 1)[0] if os.sep in rel else None


def violations(graph):
    """(file, included, why) for every include that breaks the layering."""
    bad = []
    for src, targets in graph.items():
        ls = layer_of(src)
        if ls not in LAYERS:
            bad.append((src, "", "outside the layer folders " + "/".join(LAYERS)))
            continue
        for t in targets:
            lt = layer_of(t)
            if lt not in LAYERS:
                bad.append((src, t, "includes a file outside the layer folders"))
            elif LAYERS.index(lt) > LAYERS.index(ls):
                bad.append((src, t, f"{ls} includes the higher layer {lt}"))
    return bad


def test_every_include_points_down_or_sideways():
    graph = include_graph()
    assert len(graph) > 40, "the include graph is empty: wrong folder?"
    assert violations(graph) == []


def test_no_two_layers_include_each_other():
    graph = include_graph()
    edges = {(layer_of(s), layer_of(t)) for s, ts in graph.items() for t in ts
             if layer_of(s) and layer_of(t) and layer_of(s) != layer_of(t)}
    assert not [(a, b) for a, b in edges if (b, a) in edges]


def test_zone_layer_never_calls_the_engine():
    """The precompute pass lives in query/ and takes a built image: no file of zone/
    names an engine entry point (a call back up would be a cycle at link level)."""
    offenders = []
    for f in os.listdir(os.path.join(CSRC, "zone")):
        text = open(os.path.join(CSRC, "zone", f), encoding="utf-8").read()
        if re.search(r"\brd_(answer|precompute)\w*\s*\(", text):
            offenders.append(f)
    assert offenders == []


@pytest.mark.parametrize("case,expect", [
    ({"lib/a.c": ["zone/b.h"]}, "lib includes the higher layer zone"),
    ({"zone/a.c": ["query/engine.h"]}, "zone includes the higher layer query"),
    ({"flat.c": []}, "outside the layer folders"),
])
def test_the_checker_catches_upward_includes(case, expect):
    """The rule itself can fail: upward or unfiled includes are reported."""
    got = violations(case)
    assert got and expect in got[0][2]
