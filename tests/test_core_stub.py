# test_core_stub.py — robdns/_core.pyi (the hand-written types of the extension) names
# exactly what robdns._core exports: a function or method added to a .pyx without its
# stub, or a stub left behind by a removal, fails here.  The stub's last section lists the
# test hooks (ROBDNS_TEST_HOOKS=1 builds only); this build must have all of them or none.
import ast
import inspect
import os

from robdns import _core

STUB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    "robdns", "_core.pyi")
HOOKS_MARKER = "# TEST HOOKS"


def stub_names(path=STUB):
    """(product top-level names, test hook names, public members of each class).

    Hook names include private ones (a leading underscore): they must leave the product
    too.  Product names are public only, as module_names() sees them."""
    text = open(path).read()
    lines = text.splitlines()
    marker = lines.index(HOOKS_MARKER) + 1          # 1-based line of the marker
    tree = ast.parse(text, path)
    top, hooks, members = set(), set(), {}
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            continue
        if node.lineno > marker:
            hooks.add(node.name)
        elif not node.name.startswith("_"):
            top.add(node.name)
        if isinstance(node, ast.ClassDef):
            names = ({n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                     | {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)})
            members[node.name] = {n for n in names if not n.startswith("_")}
    return top, hooks, members


def module_names(module=_core):
    top, members = set(), {}
    for name, obj in vars(module).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        if callable(obj):
            top.add(name)
        if inspect.isclass(obj):
            members[name] = {n for n in vars(obj) if not n.startswith("_")}
    return top, members


def test_stub_and_module_name_the_same_things():
    stub_top, stub_hooks, stub_members = stub_names()
    mod_top, mod_members = module_names()
    present = {h for h in stub_hooks if hasattr(_core, h)}
    assert present in (set(), stub_hooks), (
        f"a build has every test hook or none; missing: {sorted(stub_hooks - present)}")
    expected = stub_top | {h for h in present if not h.startswith("_")}
    assert mod_top - expected == set(), "add these to robdns/_core.pyi"
    assert expected - mod_top == set(), "robdns/_core.pyi names what _core does not have"
    for cls, names in mod_members.items():
        assert names == stub_members.get(cls), f"members of {cls} differ from the stub"


def test_the_stub_separates_product_from_hooks():
    top, hooks, _ = stub_names()
    assert top & hooks == set()
    # what the daemon and the CLI call stays in the product
    assert {"compile_zone", "Database", "publish", "UdpWorkers", "XdpPlane"} <= top
    assert {"rcu_stress", "RcuTestReader", "RrlTable", "bench_answer",
            "_compile_zone_dnspython", "answer"} <= hooks
