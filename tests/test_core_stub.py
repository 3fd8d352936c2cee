# test_core_stub.py — robdns/_core.pyi (the hand-written types of the extension) names
# exactly what robdns._core exports: a function or method added to a .pyx without its
# stub, or a stub left behind by a removal, fails here.
import ast
import inspect
import os

from robdns import _core

STUB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    "robdns", "_core.pyi")


def stub_names():
    tree = ast.parse(open(STUB).read(), STUB)
    top, members = set(), {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.add(node.name)
        if isinstance(node, ast.ClassDef):
            members[node.name] = (
                {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                | {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)})
            members[node.name] = {n for n in members[node.name] if not n.startswith("_")}
    return top, members


def module_names():
    top, members = set(), {}
    for name, obj in vars(_core).items():
        if name.startswith("_") or inspect.ismodule(obj):
            continue
        if callable(obj):
            top.add(name)
        if inspect.isclass(obj):
            members[name] = {n for n in vars(obj) if not n.startswith("_")}
    return top, members


def test_stub_and_module_name_the_same_things():
    stub_top, stub_members = stub_names()
    mod_top, mod_members = module_names()
    assert mod_top - stub_top == set(), "add these to robdns/_core.pyi"
    assert stub_top - mod_top == set(), "robdns/_core.pyi names what _core does not have"
    for cls, names in mod_members.items():
        assert names == stub_members.get(cls), f"members of {cls} differ from the stub"
