"""The type stubs (descent/*.pyi) say what the runtime has: every class, base, function
and method a stub declares exists at run time with the same parameters (names, kinds,
which have defaults). A stub that drifts from the code fails here."""
import ast
import builtins
import importlib
import inspect
from pathlib import Path

import pytest

import descent

PACKAGE = Path(descent.__file__).parent
STUBBED = sorted(p.stem for p in PACKAGE.glob("*.pyi") if not p.stem.startswith("_"))


def shape(parameters):
    """(name, kind, has default) of each parameter, `self` left out."""
    return [(p.name, p.kind, p.default is not inspect.Parameter.empty)
            for p in parameters if p.name != "self"]


def stub_shape(function: ast.FunctionDef):
    a = function.args
    kinds = inspect.Parameter
    out = []
    positional = a.posonlyargs + a.args
    first_default = len(positional) - len(a.defaults)
    for i, arg in enumerate(positional):
        kind = kinds.POSITIONAL_ONLY if i < len(a.posonlyargs) else kinds.POSITIONAL_OR_KEYWORD
        out.append((arg.arg, kind, i >= first_default))
    if a.vararg:
        out.append((a.vararg.arg, kinds.VAR_POSITIONAL, False))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        out.append((arg.arg, kinds.KEYWORD_ONLY, default is not None))
    if a.kwarg:
        out.append((a.kwarg.arg, kinds.VAR_KEYWORD, False))
    return [entry for entry in out if entry[0] != "self"]


def declarations():
    for name in STUBBED:
        tree = ast.parse((PACKAGE / f"{name}.pyi").read_text())
        for node in tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                yield pytest.param(name, node, id=f"{name}.{node.name}")


def resolve(module, expression):
    """The runtime object a stub's base expression names (`torch.optim.Optimizer`,
    `ValueError`), as the module's own namespace resolves it, then builtins."""
    first, *rest = ast.unparse(expression).split(".")
    value = getattr(module, first) if hasattr(module, first) else getattr(builtins, first)
    for part in rest:
        value = getattr(value, part)
    return value


def check_function(runtime, node, where):
    try:
        signature = inspect.signature(runtime)
    except (TypeError, ValueError):
        pytest.fail(f"{where}: no signature at run time to compare with the stub")
    assert shape(signature.parameters.values()) == stub_shape(node), f"{where}: stub and runtime differ"


@pytest.mark.parametrize("module_name, node", list(declarations()))
def test_stub_matches_runtime(module_name, node):
    module = importlib.import_module(f"descent.{module_name}")
    where = f"descent.{module_name}.{node.name}"
    assert hasattr(module, node.name), f"{where} is in the stub, not in the module"
    runtime = getattr(module, node.name)
    if isinstance(node, ast.FunctionDef):
        check_function(runtime, node, where)
        return
    for base in node.bases:
        if ast.unparse(base).startswith(("dict[", "Generic[")):
            continue
        assert issubclass(runtime, resolve(module, base)), f"{where} is not a {ast.unparse(base)} at run time"
    for item in node.body:
        if isinstance(item, ast.FunctionDef):
            assert hasattr(runtime, item.name), f"{where}.{item.name} is in the stub, not in the class"
            if any(ast.unparse(d) == "property" for d in item.decorator_list):
                assert isinstance(inspect.getattr_static(runtime, item.name), property), f"{where}.{item.name}"
            else:
                check_function(getattr(runtime, item.name), item, f"{where}.{item.name}")


def test_every_public_name_is_stubbed():
    for name in STUBBED:
        module = importlib.import_module(f"descent.{name}")
        tree = ast.parse((PACKAGE / f"{name}.pyi").read_text())
        declared = {node.name for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))}
        public = set(getattr(module, "__all__", ()))
        assert public <= declared, f"descent.{name} exports {sorted(public - declared)} with no stub"
