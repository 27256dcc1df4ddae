"""Small patches that make moto fast and linear for the local simulator, answering as moto does.

moto (the AWS of `coveo-push local`, the pipeline tests, the soak and the benchmarks) is correct
but slow where this project leans on it, and worse than linear in SQS:

- **SQS** scans the whole queue for every message it takes: `ReceiveMessage` builds the list of
  visible messages, then for each message it returns asks the queue for *all* its attributes (three
  counts that scan the queue again, through a datetime-built clock per message); `SendMessage`
  computes the same counts to read one flag; `DeleteMessage` and `ChangeMessageVisibility` scan the
  queue for the receipt handle. Sending and draining 10,000 messages is quadratic (tens of minutes).
- **DynamoDB** parses the same few expression strings again on every request (twice per
  `UpdateItem`: once in the handler, once in the backend), deep-copies the parsed tree before
  validating it, walks it ten times through ABC `isinstance` checks and rebuilds each walker's
  dispatch table at every node: ~7 ms of CPU per conditional `UpdateItem` of the ledger.
- Every request lists moto's package directory (~150 `stat` calls) to route it.

One patch is about meaning, not speed: moto's DynamoDB is not atomic across its server's request
threads (two conditional writes of one key can both pass their check; a read can see a transaction
that is then cancelled), so each DynamoDB request runs whole, under one lock, answering as moto
answers when requests come one at a time.

Each patch below replaces or wraps one moto function with code that computes the same answer with
less work, and says why it is the same. Each names the moto functions it replaces *or relies on*
with a digest of their source as written for moto 5.2.5: if any of them changed (another moto),
the patch is skipped with a warning and moto keeps its own code (slow; without the lock, not
atomic); the tests (tests/simulator/test_moto_patches.py) fail loudly so the digests get reviewed.

`apply()` is idempotent and thread-safe; `MotoServer.start()` calls it. The patches are
process-wide (moto's models are), so an in-process `mock_aws` in the same process gets them too.
To run moto exactly as shipped (to tell whether a patch is to blame for something), set
`AWS_SIMULATOR_MOTO_PATCHES=0` in the environment of the process that starts moto.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import os
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

#: The moto release the digests below were taken from.
WRITTEN_FOR_MOTO = "5.2.5"
#: "0" in the environment: apply no patch (moto as shipped).
SWITCH = "AWS_SIMULATOR_MOTO_PATCHES"


@dataclass(frozen=True)
class Patch:
    name: str
    #: (module, qualified name, first 16 hex digits of the sha256 of its source): what the patch
    #: replaces or relies on; any change skips the patch.
    targets: tuple[tuple[str, str, str], ...]
    install: Callable[[], None]


_lock = threading.Lock()
_status: dict[str, str] = {}  # patch name -> "applied" or "skipped: <why>"


def apply() -> dict[str, str]:
    """Apply every patch whose targets are as written (once per process); return each patch's
    status: "applied", or "skipped: <why>" (also warned)."""
    with _lock:
        for patch in PATCHES:
            if patch.name in _status:
                continue
            if os.environ.get(SWITCH) == "0":
                _status[patch.name] = f"skipped: {SWITCH}=0"
                continue
            problem = _changed_target(patch)
            if problem is None:
                patch.install()
                _status[patch.name] = "applied"
            else:
                _status[patch.name] = f"skipped: {problem}"
                warnings.warn(
                    f"moto patch {patch.name!r} skipped ({problem}); it was written for moto "
                    f"{WRITTEN_FOR_MOTO}. moto keeps its own (slower) code there.",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return dict(_status)


def status() -> dict[str, str]:
    """What `apply()` did so far (empty before it ran)."""
    with _lock:
        return dict(_status)


def source_digest(obj: Any) -> str:
    """The first 16 hex digits of the sha256 of an object's source (a property: its getter)."""
    if isinstance(obj, property):
        obj = obj.fget
    if isinstance(obj, classmethod | staticmethod):
        obj = obj.__func__
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]


_originals: dict[tuple[Any, str], Any] = {}


def _replace(owner: Any, name: str, new: Any) -> None:
    """Set `owner.name` (a class or module attribute) to `new`, keeping moto's for `original`."""
    # An inherited method is kept as the base class holds it.
    _originals.setdefault(
        (owner, name), owner.__dict__[name] if name in owner.__dict__ else getattr(owner, name)
    )
    setattr(owner, name, new)


def original(owner: Any, name: str) -> Any:
    """moto's own attribute that a patch replaced (a function, property or classmethod as it
    stood in the class or module), for the tests to compare against; KeyError if not replaced."""
    return _originals[(owner, name)]


def _resolve(module: str, qualname: str) -> Any:
    """The object named, as moto ships it (a replaced one: moto's, kept by `_replace`)."""
    import importlib

    obj: Any = importlib.import_module(module)
    for part in qualname.split(".") if qualname else ():
        owner = obj
        obj = obj.__dict__[part] if isinstance(obj, type) else getattr(obj, part)
        obj = _originals.get((owner, part), obj)
    return obj


def _changed_target(patch: Patch) -> str | None:
    for module, qualname, digest in patch.targets:
        try:
            found = source_digest(_resolve(module, qualname))
        except (ImportError, AttributeError, KeyError, OSError, TypeError) as exc:
            return f"{module}.{qualname} not found ({type(exc).__name__})"
        if found != digest:
            return f"{module}.{qualname} changed (source digest {found}, written for {digest})"
    return None


# --- the clock ----------------------------------------------------------------------------------
# moto's unix_time() builds two datetimes and subtracts them; SQS calls it for every message it
# looks at (visible? delayed? retained?). time.time() is the same number: seconds since the epoch.


def _unix_time(dt: Any = None) -> float:
    if dt is None:
        return time.time()
    return _moto_unix_time(dt)


def _unix_time_millis(dt: Any = None) -> float:
    return _unix_time(dt) * 1000.0


_moto_unix_time: Callable[..., float]


def _install_clock() -> None:
    global _moto_unix_time
    from moto.core import utils
    from moto.sqs import models

    _moto_unix_time = utils.unix_time
    _replace(models, "unix_time", _unix_time)
    _replace(models, "unix_time_millis", _unix_time_millis)


# --- SQS: counts only when asked, one pass each --------------------------------------------------
# Queue.attributes computes ApproximateNumberOfMessages{,Delayed,NotVisible}, each a scan of the
# queue. moto reads Queue.attributes inside SendMessage only for ContentBasedDeduplication, so
# while a send runs (this thread only) the counts are not computed: 0 stands in, and is never
# seen. GetQueueAttributes read Queue.attributes 1 + 2 x (names asked) times: once is enough.

_sending = threading.local()


def _count_visible(queue: Any) -> int:
    if getattr(_sending, "on", False):
        return 0
    now = time.time() * 1000.0
    return sum(1 for m in queue._messages if now > m.visible_at and not now < m.delayed_until)


def _count_not_visible(queue: Any) -> int:
    if getattr(_sending, "on", False):
        return 0
    now = time.time() * 1000.0
    return sum(1 for m in queue._messages if not now > m.visible_at)


def _count_delayed(queue: Any) -> int:
    if getattr(_sending, "on", False):
        return 0
    now = time.time() * 1000.0
    return sum(1 for m in queue._messages if now < m.delayed_until)


def _install_sqs_counts() -> None:
    from moto.sqs.exceptions import InvalidAttributeName
    from moto.sqs.models import Queue, SQSBackend

    _replace(Queue, "approximate_number_of_messages", property(_count_visible))
    _replace(Queue, "approximate_number_of_messages_not_visible", property(_count_not_visible))
    _replace(Queue, "approximate_number_of_messages_delayed", property(_count_delayed))

    def sending(real: Callable[..., Any]) -> Callable[..., Any]:
        def send(self: Any, *args: Any, **kwargs: Any) -> Any:
            outer = getattr(_sending, "on", False)
            _sending.on = True
            try:
                return real(self, *args, **kwargs)
            finally:
                _sending.on = outer

        send.__wrapped__ = real  # type: ignore[attr-defined]
        return send

    _replace(SQSBackend, "send_message", sending(SQSBackend.send_message))
    _replace(SQSBackend, "send_message_batch", sending(SQSBackend.send_message_batch))

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
        # moto's, with queue.attributes read once.
        queue = self.get_queue(queue_name)
        if not attribute_names:
            return {}
        valid_names = ["All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES]
        invalid_name = next((name for name in attribute_names if name not in valid_names), None)
        if invalid_name or invalid_name == "":
            raise InvalidAttributeName(invalid_name)
        current: dict[str, Any] = queue.attributes
        if "All" in attribute_names:
            return current
        return {name: current[name] for name in attribute_names if current.get(name) is not None}

    _replace(SQSBackend, "get_queue_attributes", get_queue_attributes)

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        # moto asked get_queue_attributes (every attribute, counts included) for one number.
        retention_period = self.get_queue(queue_name).message_retention_period
        return bool(retention_period + message.sent_timestamp / 1000 > time.time())

    _replace(
        SQSBackend, "is_message_valid_based_on_retention_period", is_message_valid_based_on_retention_period
    )


# --- SQS: receive without building the visible list, find a receipt handle without a scan -------
# ReceiveMessage: moto's loop, over the queue as it is (messages in flight at the front are skipped
# by a float comparison) instead of a list of every visible message built first, stopping when it
# has `count`. The pending FIFO groups are computed only for a FIFO queue (only it reads them).
# The message handed to the response is a copy, as moto's deepcopy made, but not registered in
# moto's instance tracker (it is thrown away after the response; moto kept every copy forever).
# A queue-wide lock makes taking messages atomic (two receives never take the same message;
# moto's own loop could, under concurrent requests), as are deleting and changing visibility.
#
# DeleteMessage / ChangeMessageVisibility: each queue remembers the receipt handles its receives
# issued; the message is then found by identity in the queue (C speed, near the front). A handle
# the queue did not issue (a message the DLQ received from its source queue, a stale or made-up
# handle) falls back to moto's own scan, so the answer (and ReceiptHandleIsInvalid) is moto's.


def _handles(queue: Any) -> dict[str, Any]:
    handles: dict[str, Any] | None = queue.__dict__.get("_patched_handles")
    if handles is None:
        handles = queue.__dict__.setdefault("_patched_handles", {})
    return handles


def _issued(queue: Any, receipt_handle: str) -> tuple[int, Any] | None:
    """(index in the queue, message) of a message this queue's receives gave `receipt_handle`."""
    message = _handles(queue).get(receipt_handle)
    if message is None:
        return None
    try:
        return queue._messages.index(message), message
    except ValueError:  # deleted, purged, or moved to the DLQ since
        return None


def _message_copy(message: Any) -> Any:
    duplicate = object.__new__(type(message))
    duplicate.__dict__.update(message.__dict__)
    duplicate._old_receipt_handles = list(message._old_receipt_handles)
    duplicate.message_attributes = copy.deepcopy(message.message_attributes)
    duplicate.system_attributes = copy.deepcopy(message.system_attributes)
    return duplicate


def _install_sqs_receive() -> None:
    from moto.sqs.exceptions import InvalidParameterValue
    from moto.sqs.models import Queue, SQSBackend, _filter_message_attributes

    moto_delete = Queue.delete_message
    moto_change_visibility = SQSBackend.change_message_visibility

    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Any]:
        if message_attribute_names is None:
            message_attribute_names = []
        queue = self.get_queue(queue_name)
        result: list[Any] = []
        previous_result_count = len(result)
        polling_end = time.time() + wait_seconds_timeout
        fifo = queue.fifo_queue
        currently_pending_groups = set(queue.pending_message_groups) if fifo else set()
        while True:
            if result or (wait_seconds_timeout and time.time() > polling_end):
                break
            messages_to_dlq: list[Any] = []
            with queue._messages_lock:
                now = time.time() * 1000.0  # one clock reading per pass, not per message looked at
                for message in list(queue._messages):
                    if not (now > message.visible_at and not now < message.delayed_until):
                        continue
                    if message in queue.pending_messages:
                        # The message is pending but is visible again: the consumer timed out.
                        queue.pending_messages.remove(message)
                        if fifo:
                            currently_pending_groups = set(queue.pending_message_groups)
                    if message.group_id and fifo and message.group_id in currently_pending_groups:
                        continue  # a previous call still processes this group
                    if (
                        queue.dead_letter_queue is not None
                        and queue.redrive_policy
                        and message.approximate_receive_count >= queue.redrive_policy["maxReceiveCount"]
                    ):
                        messages_to_dlq.append(message)
                        continue
                    queue.pending_messages.add(message)
                    message.mark_received(visibility_timeout=visibility_timeout)
                    _handles(queue)[message.receipt_handle] = message
                    message_copy = _message_copy(message)
                    _filter_message_attributes(message_copy, message_attribute_names)
                    if not self.is_message_valid_based_on_retention_period(queue_name, message):
                        break
                    result.append(message_copy)
                    if len(result) >= count:
                        break
                for message in messages_to_dlq:
                    queue._messages.remove(message)
                    for handle in message.all_receipt_handles:
                        _handles(queue).pop(handle, None)
            for message in messages_to_dlq:  # outside this queue's lock: the DLQ takes its own
                queue.dead_letter_queue.add_message(message)
            if previous_result_count == len(result):
                if wait_seconds_timeout == 0:
                    break  # no timeout and nothing more to take
                queue.wait_for_messages(1)
                continue
            previous_result_count = len(result)
        return result

    def wait_for_messages(self: Any, timeout: int) -> None:
        # moto's predicate built the list of every visible message; any() stops at the first.
        def anything_visible() -> bool:
            now = time.time() * 1000.0
            return any(now > m.visible_at and not now < m.delayed_until for m in self._messages)

        with self._messages_lock:
            self._messages_lock.wait_for(anything_visible, timeout=timeout)

    def delete_message(self: Any, receipt_handle: str) -> None:
        if receipt_handle in self.deleted_messages:
            return  # already deleted: deleting again is fine
        with self._messages_lock:
            found = _issued(self, receipt_handle)
            if found is None:
                moto_delete(self, receipt_handle)
                return
            index, message = found
            del self._messages[index]
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            handles = _handles(self)
            for handle in message.all_receipt_handles:
                handles.pop(handle, None)
        return None

    def change_message_visibility(
        self: Any, queue_name: str, receipt_handle: str, visibility_timeout: int
    ) -> None:
        queue = self.get_queue(queue_name)
        with queue._messages_lock:
            found = _issued(queue, receipt_handle)
            if found is None:
                moto_change_visibility(self, queue_name, receipt_handle, visibility_timeout)
                return
            _, message = found
            # moto's body, for the message it would have found.
            visibility_timeout_msec = int(visibility_timeout) * 1000
            given_visibility_timeout = _unix_time_millis() + visibility_timeout_msec
            if given_visibility_timeout - message.sent_timestamp > 43200 * 1000:
                raise InvalidParameterValue(
                    f"Value {visibility_timeout} for parameter VisibilityTimeout is invalid. Reason: Total "
                    "VisibilityTimeout for the message is beyond the limit [43200 seconds]"
                )
            message.change_visibility(visibility_timeout)
            if message.visible and message in queue.pending_messages:
                queue.pending_messages.remove(message)  # visible again: no longer pending
        return None

    _replace(SQSBackend, "receive_message", receive_message)
    _replace(SQSBackend, "change_message_visibility", change_message_visibility)
    _replace(Queue, "wait_for_messages", wait_for_messages)
    _replace(Queue, "delete_message", delete_message)


# --- routing: moto's package directory, listed once -----------------------------------------------
# DomainDispatcherApplication.get_backend_for_host asks `host in list_of_moto_modules()` for every
# request, which lists moto's package directory and stats each entry. The directory is the
# installed package: it does not change while the process runs.


def _install_routing() -> None:
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> Iterable[str]:
        return modules

    _replace(backends, "list_of_moto_modules", list_of_moto_modules)


# --- SQS: a receipt handle drawn in one call --------------------------------------------------------
# moto draws each of a receipt handle's 185 lowercase letters with its own random.choice (a Python
# loop through _randbelow: about a millisecond per message received, most of a receive's CPU).
# random.choices draws the same kind of handle (185 letters, each uniform over a-z) from the same
# seedable generator, in one call.


def _install_receipt_handles() -> None:
    import string

    from moto.moto_api._internal import mock_random as generator  # what moto draws from; seedable
    from moto.sqs import models, utils

    letters = string.ascii_lowercase

    def generate_receipt_handle() -> str:
        return "".join(generator.choices(letters, k=185))

    _replace(utils, "generate_receipt_handle", generate_receipt_handle)
    _replace(models, "generate_receipt_handle", generate_receipt_handle)


# --- every service: a handler's method names listed once, names converted once ---------------------
# BaseResponse.call_action lists the handler class's methods on every request (inspect.getmembers:
# every attribute of the class, sorted) to see whether the action is one of them. The methods a
# class has do not change while moto runs (the patches here replace methods, they add none), so the
# list is kept per class; each call gets its own copy. camelcase_to_underscores is a pure function
# of its string; SQS's Queue.attributes converts the same 15 names for every message sent.


def _install_dispatch_caches() -> None:
    import functools

    from moto.core import responses, utils
    from moto.sqs import models

    moto_method_names = utils.method_names_from_class
    names_by_class: dict[Any, tuple[str, ...]] = {}

    def method_names_from_class(clazz: object) -> list[str]:
        names = names_by_class.get(clazz)
        if names is None:
            names = names_by_class[clazz] = tuple(moto_method_names(clazz))
        return list(names)

    converted = functools.lru_cache(maxsize=4096)(utils.camelcase_to_underscores)
    _replace(responses, "method_names_from_class", method_names_from_class)
    _replace(responses, "camelcase_to_underscores", converted)
    _replace(models, "camelcase_to_underscores", converted)


# --- DynamoDB: parse an expression string once ----------------------------------------------------
# UpdateExpressionParser.make(expression) depends on the string alone. moto never changes the tree
# it returns: the handler only reads it (find_clauses), and the validator works on its own copy
# (Validator.__init__ copies it). So the tree of each string is kept (errors are not: they raise
# again). The adapters use a handful of strings with different values, so the cache stays small;
# it is bounded anyway. The condition lexer is kept the same way (tokens of a string), and each
# call gets fresh token tuples.

_CACHE_LIMIT = 1024
_update_trees: dict[str, Any] = {}
_tree_expressions: dict[int, tuple[Any, str]] = {}  # id(tree) -> (tree, string): a cached tree's string
_condition_tokens: dict[str, tuple[Any, ...]] = {}


def _install_parse_cache() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    moto_make = UpdateExpressionParser.make.__func__

    def make(cls: Any, expression_str: str) -> Any:
        if cls is not UpdateExpressionParser or not isinstance(expression_str, str):
            return moto_make(cls, expression_str)
        tree = _update_trees.get(expression_str)
        if tree is None:
            tree = moto_make(cls, expression_str)
            if len(_update_trees) >= _CACHE_LIMIT:
                _update_trees.clear()
                _tree_expressions.clear()
            _update_trees[expression_str] = tree
            _tree_expressions[id(tree)] = (tree, expression_str)
        return tree

    _replace(UpdateExpressionParser, "make", classmethod(make))

    moto_lex = ConditionExpressionParser._lex_condition_expression

    def lex(self: Any) -> deque[Any]:
        expression = self.condition_expression
        tokens = _condition_tokens.get(expression)
        if tokens is None:
            tokens = tuple(moto_lex(self))
            if len(_condition_tokens) >= _CACHE_LIMIT:
                _condition_tokens.clear()
            _condition_tokens[expression] = tokens
        # Tokens are namedtuples with an (empty) children list: fresh ones, as moto's lexer makes.
        return deque(token._replace(children=list(token.children)) for token in tokens)

    _replace(ConditionExpressionParser, "_lex_condition_expression", lex)


# --- DynamoDB: a condition's tree once per (expression, names), its values put in per call --------
# ConditionExpressionParser.parse lexes the condition, reads its paths (looking up names and
# values), applies functions, comparators, IN, BETWEEN, parentheses and booleans, then makes the
# operators. Only the paths step reads ExpressionAttributeValues, and only the operators read the
# values it put in the tree (the other steps look at node kinds and texts; the class's digest pins
# that). So the tree built for an expression and a set of names serves every call with the same
# two: the call looks its values up in the order moto would (so a missing one fails as in moto,
# and first), puts them into a copy of the tree, and makes the operators from it. The copy is new
# only along the paths to the value nodes: the tree is read, never changed, after it is built (the
# operators and the two finders read it; moto's own first parse already shares the cached tree with
# its call), so the branches without a value are shared. The names and value placeholders the two
# finders collect depend on node kinds and texts only, so they are kept with the tree. A parse that
# fails is not kept.


@dataclass(frozen=True)
class _ConditionTree:
    value_names: tuple[str, ...]  # looked up, in moto's order, before anything else
    tree: Any
    with_value: frozenset[int]  # ids of the nodes that are, or hold, a value node
    literals: tuple[str, ...]  # _find_literals of the tree
    value_texts: tuple[str, ...]  # _find_expr_attr_values of the tree


_condition_trees: dict[tuple[str, Any], _ConditionTree] = {}


def _nodes_with_value(tree: Any, value_kind: Any) -> frozenset[int]:
    found: set[int] = set()

    def walk(node: Any) -> bool:
        below = [walk(child) for child in node.children]
        if node.kind == value_kind or any(below):
            found.add(id(node))
            return True
        return False

    walk(tree)
    return frozenset(found)


def _install_condition_cache() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser, OpDefault

    value_kind = ConditionExpressionParser.Kind.EXPRESSION_ATTRIBUTE_VALUE
    operand = ConditionExpressionParser.Nonterminal.OPERAND

    def parse(self: Any) -> Any:
        if not self.condition_expression:
            return OpDefault(None, None)  # type: ignore[arg-type]
        key = _condition_key(self)
        cached = _condition_trees.get(key) if key is not None else None
        if cached is None:
            tokens = self._lex_condition_expression()
            value_names = tuple(
                name
                for token in tokens
                if token.nonterminal == operand
                for name in token.value.replace("[", ".[").split(".")
                if name.startswith(":")
            )
            nodes = self._parse_paths(tokens)
            nodes = self._apply_functions(nodes)
            nodes = self._apply_comparator(nodes)
            nodes = self._apply_in(nodes)
            nodes = self._apply_between(nodes)
            nodes = self._apply_parens_and_booleans(nodes)
            node = nodes[0]
            self._assert_no_redundant_parentheses(node)
            literals, value_texts = self._find_literals(node), self._find_expr_attr_values(node)
            if key is not None:
                if len(_condition_trees) >= _CACHE_LIMIT:
                    _condition_trees.clear()
                _condition_trees[key] = _ConditionTree(
                    value_names,
                    node,
                    _nodes_with_value(node, value_kind),
                    tuple(literals),
                    tuple(value_texts),
                )
        else:
            for name in cached.value_names:  # as _parse_paths looks them up: a missing one raises here
                self._lookup_expression_attribute_value(name)
            with_value = cached.with_value

            def with_values(node: Any) -> Any:
                if id(node) not in with_value:
                    return node  # no value below: the kept branch serves as it is
                children = [with_values(child) for child in node.children]
                if node.kind == value_kind:
                    return node._replace(
                        value=self._lookup_expression_attribute_value(node.text), children=children
                    )
                return node._replace(children=children)

            node = with_values(cached.tree)
            literals, value_texts = list(cached.literals), list(cached.value_texts)
        self.expr_attr_names_found.extend(literals)
        self.expr_attr_values_found.extend(value_texts)
        return self._make_op_condition(node)

    _replace(ConditionExpressionParser, "parse", parse)


def _condition_key(parser: Any) -> tuple[str, Any] | None:
    names = parser.expression_attribute_names
    try:
        key = (parser.condition_expression, None if names is None else tuple(sorted(names.items())))
        hash(key)
    except (AttributeError, TypeError):  # not what moto passes: no shortcut
        return None
    return key


def expression_of(tree: Any) -> str | None:
    """The expression string a cached update-expression tree was parsed from (None: not cached)."""
    entry = _tree_expressions.get(id(tree))
    return entry[1] if entry is not None and entry[0] is tree else None


# --- DynamoDB: copy and walk the expression tree without the generic machinery --------------------
# Validator.__init__ deep-copies the tree. Tree nodes are plain objects (no __slots__, no copy
# hooks; the digest of ast_nodes.py pins that), so copying each node's __dict__ recursively, with a
# memo as deepcopy keeps (nodes point at their parent), builds the same tree several times faster.
# Anything else in it (a DynamoType once values are in) goes to copy.deepcopy with the same memo.
#
# DepthFirstTraverser.traverse_node_recursively tests every node with isinstance against ABCs (a
# Python-level __instancecheck__) and rebuilds the walker's processing map at every node. traverse()
# below is the same walk, bottom-up, with the same hooks in the same order; it asks the walker for
# its node types once per walk (moto's walkers' maps are constant) and remembers per node class
# whether it is one of them.

_ATOMS = frozenset({str, int, float, bool, type(None), bytes})
_node_classes: dict[type, bool] = {}


def _is_node(cls: type) -> bool:
    known = _node_classes.get(cls)
    if known is None:
        from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]

        known = _node_classes[cls] = issubclass(cls, Node)
    return known


def clone_tree(obj: Any, memo: dict[int, Any] | None = None) -> Any:
    """copy.deepcopy for moto's expression trees, faster."""
    if memo is None:
        memo = {}
    return _clone(obj, memo)


def _clone(obj: Any, memo: dict[int, Any]) -> Any:
    cls = type(obj)
    if cls in _ATOMS:
        return obj
    done = memo.get(id(obj))
    if done is not None:
        return done
    if cls is list:
        new_list: list[Any] = []
        memo[id(obj)] = new_list
        new_list.extend([_clone(item, memo) for item in obj])
        return new_list
    if cls is dict:
        new_dict: dict[Any, Any] = {}
        memo[id(obj)] = new_dict
        for key, value in obj.items():
            new_dict[_clone(key, memo)] = _clone(value, memo)
        return new_dict
    if _is_node(cls):
        node = object.__new__(cls)
        memo[id(obj)] = node
        node.__dict__.update({name: _clone(value, memo) for name, value in obj.__dict__.items()})
        return node
    return copy.deepcopy(obj, memo)


def _traverse(self: Any, node: Any) -> Any:
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser  # type: ignore[attr-defined]

    kinds = self.nodes_to_be_processed()
    processed: dict[type, bool] = {}
    # The base hook does nothing: a walker that keeps it need not call it.
    hook = type(self).pre_processing_of_child
    pre_processing_of_child = (
        None if hook is DepthFirstTraverser.pre_processing_of_child else self.pre_processing_of_child
    )
    process = self.process
    node_classes = _node_classes

    def visit(node: Any, child_id: int) -> Any:
        cls = type(node)
        is_node = node_classes.get(cls)
        if is_node is None:
            is_node = _is_node(cls)
        if not is_node:
            return node
        parent_node = node.parent
        children = node.children
        if children is not None:
            if pre_processing_of_child is None:
                for i, child_node in enumerate(children):
                    visit(child_node, i)
            else:
                for i, child_node in enumerate(children):
                    pre_processing_of_child(node, i)
                    visit(child_node, i)
        hit = processed.get(cls)
        if hit is None:
            hit = processed[cls] = issubclass(cls, kinds)
        if hit:
            node = process(node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    return visit(node, -1)


# --- DynamoDB: the update expression's structural checks, once per expression ---------------------
# UpdateExpressionValidator runs ten walkers. The first three only check the expression's shape:
# one clause of each kind (ActionCountValidator, itself quadratic in the tree), no overlapping
# paths (OverlappingPathsValidator: the tree and ExpressionAttributeNames), no key attribute
# updated (UpdateHashRangeKeyValidator: the tree, the names and the table's key attributes). They
# return the tree unchanged or raise. Once they passed for (expression string, names, key
# attributes), the same request shape passes again: they are skipped for it. A failure is never
# remembered. Only trees from the parse cache (whose string is known) qualify.

_shapes_checked: set[tuple[Any, ...]] = set()


def _install_validation() -> None:
    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser  # type: ignore[attr-defined]

    structural = (
        validators.ActionCountValidator,
        validators.OverlappingPathsValidator,
        validators.UpdateHashRangeKeyValidator,
    )

    def init(
        self: Any,
        expression: Any,
        expression_attribute_names: Any,
        expression_attribute_values: Any,
        item: Any,
        table: Any,
    ) -> None:
        self.expression_attribute_names = expression_attribute_names
        self.expression_attribute_values = expression_attribute_values
        self.item = item
        self.table = table
        self.processors = self.get_ast_processors()
        self.node_to_validate = clone_tree(expression)
        self._patched_shape = _shape_of(expression, expression_attribute_names, table)

    def validate(self: Any) -> Any:
        n = self.node_to_validate
        shape = getattr(self, "_patched_shape", None)
        processors = list(self.processors)
        checks = len(structural)
        known = tuple(type(p) for p in processors[:checks]) == structural
        if shape is not None and known and shape in _shapes_checked:
            processors = processors[checks:]
            checks = 0
        for index, processor in enumerate(processors, start=1):
            n = processor.traverse(n)
            if index == checks and shape is not None and known:
                if len(_shapes_checked) >= _CACHE_LIMIT:
                    _shapes_checked.clear()
                _shapes_checked.add(shape)
        return n

    _replace(validators.Validator, "__init__", init)
    _replace(validators.UpdateExpressionValidator, "validate", validate)
    _replace(DepthFirstTraverser, "traverse", _traverse)


# --- DynamoDB: a simple update expression validated once per shape of its values -------------------
# The seven walkers after the structural checks put each :value in (a DDBTypedValue of its
# DynamoType), resolve #names and item paths, evaluate functions and arithmetic, then check key
# attributes' types and emptiness. For an expression of only `SET name = :value` and `REMOVE name`
# actions on top-level names, nothing of that reads the item: a target path is only checked to be
# creatable, which a top-level name always is; there is no function, operator or value path. The
# result is then the parsed tree with each :value's DynamoType in, and it passes or fails by the
# values' types and emptiness only. So once moto's own walkers validated such an expression for
# (its string, names, the table's keys and attribute types, each :value's type and emptiness), the
# same shape gets a copy of that validated tree with this call's values in. A failure is never
# kept; anything else (nested paths, functions, ADD, DELETE, a :value missing) goes to moto.

_SIMPLE_NODES = frozenset(
    {
        "UpdateExpression",
        "UpdateExpressionSetClause",
        "UpdateExpressionSetActions",
        "UpdateExpressionSetAction",
        "UpdateExpressionRemoveClause",
        "UpdateExpressionRemoveActions",
        "UpdateExpressionRemoveAction",
        "UpdateExpressionPath",
        "ExpressionAttribute",
        "ExpressionAttributeName",
        "UpdateExpressionValue",
        "ExpressionAttributeValue",
    }
)
_simple_placeholders: dict[str, tuple[str, ...] | None] = {}  # expression string -> its :values
_validated_trees: dict[tuple[Any, ...], Any] = {}


def placeholders_of_simple(tree: Any) -> tuple[str, ...] | None:
    """The :values of a SET-name-to-:value / REMOVE-name expression tree in walk order, else None."""
    from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]

    found: list[str] = []

    def walk(node: Any) -> bool:
        name = type(node).__name__
        if name not in _SIMPLE_NODES:
            return False
        children = node.children or []
        if name == "UpdateExpressionPath" and (len(children) != 1 or not isinstance(children[0], Node)):
            return False
        if name == "UpdateExpressionValue" and (
            len(children) != 1 or type(children[0]).__name__ != "ExpressionAttributeValue"
        ):
            return False
        if name == "ExpressionAttributeValue":
            found.append(node.get_value_name())
            return True
        if name in ("ExpressionAttribute", "ExpressionAttributeName"):
            return len(children) == 1 and isinstance(children[0], str)
        return all(walk(child) for child in children)

    return tuple(found) if walk(tree) else None


def _simple_key(
    expression: Any, names: Any, values: Any, table: Any
) -> tuple[tuple[Any, ...], list[Any]] | None:
    """The cache key of a simple expression with these values (and the values' DynamoTypes in walk
    order), or None when the expression is not simple or the call is not one moto would pass."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    shape = _shape_of(expression, names, table)
    if shape is None:
        return None
    text = shape[0]
    if text not in _simple_placeholders:
        if len(_simple_placeholders) >= _CACHE_LIMIT:
            _simple_placeholders.clear()
        _simple_placeholders[text] = placeholders_of_simple(expression)
    wanted = _simple_placeholders[text]
    if wanted is None or not isinstance(values, dict) or any(n not in values for n in wanted):
        return None
    try:
        typed = [DynamoType(values[n]) for n in wanted]
        signature = tuple((n, t.type, not t.value) for n, t in zip(wanted, typed, strict=True))
        definitions = tuple((d["AttributeName"], d["AttributeType"]) for d in table.attr or ())
        key = (shape, signature, definitions, tuple(table.attribute_keys))
        hash(key)
    except (AttributeError, KeyError, TypeError, IndexError):  # not the shapes moto passes
        return None
    return key, typed


def _install_simple_update_cache() -> None:
    from moto.dynamodb.parsing import validators

    validate_all = validators.UpdateExpressionValidator.validate  # moto's, or the patched one above
    init_all = validators.Validator.__init__

    def init(
        self: Any,
        expression: Any,
        expression_attribute_names: Any,
        expression_attribute_values: Any,
        item: Any,
        table: Any,
    ) -> None:
        found = None
        if isinstance(self, validators.UpdateExpressionValidator):
            found = _simple_key(expression, expression_attribute_names, expression_attribute_values, table)
        if found is None or found[0] not in _validated_trees:
            init_all(self, expression, expression_attribute_names, expression_attribute_values, item, table)
            self._patched_simple = found
            return
        # A validated tree is kept for this shape: no copy of the parsed tree to walk.
        self.expression_attribute_names = expression_attribute_names
        self.expression_attribute_values = expression_attribute_values
        self.item = item
        self.table = table
        self.processors = self.get_ast_processors()
        self.node_to_validate = None
        self._patched_simple = found

    def validate(self: Any) -> Any:
        found = getattr(self, "_patched_simple", None)
        if found is None:
            return validate_all(self)
        key, typed = found
        kept = _validated_trees.get(key)
        if kept is None:
            if self.node_to_validate is None:  # evicted since __init__: walk as moto does
                self.node_to_validate = clone_tree(_expression_tree(key))
            result = validate_all(self)  # raises as moto does: nothing kept
            if _rebuildable(result, len(typed)):
                if len(_validated_trees) >= _CACHE_LIMIT:
                    _validated_trees.clear()
                    _simple_plans.clear()
                _validated_trees[key] = result
                _simple_plans[key] = _plan_of(result, len(typed), self.expression_attribute_names)
                return _rebuild(result, iter(typed), None)
            return result
        plan = _simple_plans.get(key) if _plans_applied.is_set() else None
        if plan is not None:
            return _SimplePlan(plan, typed)
        return _rebuild(kept, iter(typed), None)

    _replace(validators.Validator, "__init__", init)
    _replace(validators.UpdateExpressionValidator, "validate", validate)


# --- DynamoDB: a simple update applied as moto's executors apply it ----------------------------------
# For a validated simple expression (SET name = :value, REMOVE name, top-level names only), moto's
# update_item normalizes the tree (SET actions in their order, REMOVE actions after, sorted) and its
# executors then do, action by action: SET `item.attrs[name] = value` (the item's LimitedSizeDict,
# which checks the 400 KB limit with what the item holds at that moment) and REMOVE
# `item.attrs.pop(name, None)`. The plan is that list of actions, taken once per shape from moto's
# own normalized tree, so the order is moto's; each call then runs it on its own values instead of
# a rebuilt tree walked by the executors. The size check is LimitedSizeDict's, made against a sum
# kept up to date instead of one recomputed over the whole item at every SET, so the same SET
# raises the same ItemSizeTooLarge (differential scenarios: a SET after a large value is replaced,
# a REMOVE written before a SET).

_simple_plans: dict[tuple[Any, ...], tuple[tuple[str, str, int], ...] | None] = {}
_plans_applied = threading.Event()  # set by the patch below: without it, moto's executors need trees


class _SimplePlan:
    """What `validate()` hands moto's update_item for a simple expression: `normalize()` is done,
    and UpdateExpressionExecutor (patched) runs `apply`."""

    def __init__(self, plan: tuple[tuple[str, str, int], ...], typed: list[Any]) -> None:
        self.plan = plan
        self.typed = typed

    def normalize(self) -> None:
        """The plan is in normalized order already."""

    def apply(self, item: Any) -> None:
        from moto.dynamodb.models.dynamo_type import LimitedSizeDict

        attrs = item.attrs
        if type(attrs) is not LimitedSizeDict:
            for action, name, index in self.plan:
                if action == "SET":
                    attrs[name] = self.typed[index]
                else:
                    attrs.pop(name, None)
            return
        limited = _LimitedSum(attrs)
        for action, name, index in self.plan:
            if action == "SET":
                limited.set(name, self.typed[index])
            else:
                limited.remove(name)


class _LimitedSum:
    """A LimitedSizeDict changed as its own methods would change it, with its size check made
    against a running sum. LimitedSizeDict.__setitem__ sums every name and value the item holds at
    each SET and refuses the SET if that sum plus the new name and value pass 405,000 (the old
    value of the same name still counted): the same sum is kept here as names are set and removed."""

    LIMIT = 405_000

    def __init__(self, attrs: Any) -> None:
        from moto.dynamodb.exceptions import ItemSizeTooLarge
        from moto.dynamodb.models.dynamo_type import DynamoType
        from moto.dynamodb.models.utilities import bytesize  # what LimitedSizeDict measures with

        def size(part: Any) -> int:  # LimitedSizeDict.__setitem__'s measure of a name or a value
            return part.size() if type(part) is DynamoType else bytesize(str(part))

        self._attrs, self._size, self._too_large = attrs, size, ItemSizeTooLarge
        self._total = sum(size(name) + size(value) for name, value in attrs.items())

    def set(self, name: str, value: Any) -> None:
        added = self._size(name) + self._size(value)
        if self._total + added > self.LIMIT:
            raise self._too_large
        self._total += added - self._held(name)
        dict.__setitem__(self._attrs, name, value)

    def remove(self, name: str) -> None:
        self._total -= self._held(name)
        self._attrs.pop(name, None)

    def _held(self, name: str) -> int:
        old = self._attrs.get(name)
        return 0 if old is None else self._size(name) + self._size(old)


class _Placeholder:
    def __init__(self, index: int) -> None:
        self.index = index


def _plan_of(tree: Any, values: int, names: Any) -> tuple[tuple[str, str, int], ...] | None:
    """The actions of a validated simple tree in the order moto's executors run them, or None."""
    copy_ = _rebuild(tree, iter([_Placeholder(i) for i in range(values)]), None)
    copy_.normalize()
    if type(copy_).__name__ != "UpdateExpression":
        return None
    plan: list[tuple[str, str, int]] = []
    for action in copy_.children or ():
        kind = type(action).__name__
        path: Any = action.children[0] if action.children else None
        if type(path).__name__ != "UpdateExpressionPath" or len(path.children or ()) != 1:
            return None
        element = path.children[0]
        if type(element).__name__ == "ExpressionAttribute":
            name = element.get_attribute_name()
        elif type(element).__name__ == "ExpressionAttributeName" and isinstance(names, dict):
            name = names.get(element.get_attribute_name_placeholder())
        else:
            return None
        if not isinstance(name, str):
            return None
        if kind == "UpdateExpressionSetAction" and len(action.children) == 2:
            value = action.children[1]
            held = value.children[0] if type(value).__name__ == "DDBTypedValue" and value.children else None
            if not isinstance(held, _Placeholder):
                return None
            plan.append(("SET", name, held.index))
        elif kind == "UpdateExpressionRemoveAction" and len(action.children) == 1:
            plan.append(("REMOVE", name, -1))
        else:
            return None
    return tuple(plan)


def _install_simple_update_plans() -> None:
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor

    moto_execute = UpdateExpressionExecutor.execute

    def execute(self: Any, node: Any = None) -> None:
        if node is None and isinstance(self.update_ast, _SimplePlan):
            self.update_ast.apply(self.item)
            return
        moto_execute(self, node)

    _replace(UpdateExpressionExecutor, "execute", execute)
    _plans_applied.set()


def _expression_tree(key: tuple[Any, ...]) -> Any:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    return UpdateExpressionParser.make(key[0][0])


_NODE_FIELDS = frozenset({"type", "children", "parent"})


def _rebuildable(tree: Any, values: int) -> bool:
    """A validated tree `_rebuild` copies exactly: nodes of the simple kinds (and DDBTypedValue)
    holding only their type, children and parent, with one DDBTypedValue per :value."""
    typed = 0

    def walk(node: Any) -> bool:
        nonlocal typed
        name = type(node).__name__
        if not set(node.__dict__) <= _NODE_FIELDS:
            return False
        if name == "DDBTypedValue":
            typed += 1
            return True
        if name not in _SIMPLE_NODES:
            return False
        children = node.children or ()
        return all(isinstance(c, str) or (_is_node(type(c)) and walk(c)) for c in children)

    return walk(tree) and typed == values


def _rebuild(node: Any, typed: Iterator[Any], parent: Any) -> Any:
    """A fresh copy of a kept validated tree, each DDBTypedValue holding the next of `typed`."""
    copy_ = object.__new__(type(node))
    fields = dict(node.__dict__)
    fields["parent"] = parent
    if type(node).__name__ == "DDBTypedValue":
        fields["children"] = [next(typed)]
    elif node.children is not None:
        fields["children"] = [c if isinstance(c, str) else _rebuild(c, typed, copy_) for c in node.children]
    copy_.__dict__.update(fields)
    return copy_


def _shape_of(expression: Any, names: Any, table: Any) -> tuple[Any, ...] | None:
    text = expression_of(expression)
    if text is None:
        return None
    try:
        named = None if names is None else tuple(sorted(names.items()))
        keys = tuple(table.table_key_attrs)
        hash((named, keys))
    except (AttributeError, TypeError):  # not the shapes moto passes: no shortcut
        return None
    return (text, named, keys)


# --- DynamoDB: a transaction keeps the items it touches, not a copy of every table it names --------
# moto's TransactWriteItems deep-copies each table it names before it starts, to put the copy back
# if the transaction is cancelled: its cost grows with the table (50 ms per action on a table of a
# few thousand heads). The actions of a transaction write only their own items (a Put, Update or
# Delete its key; a ConditionCheck nothing), so keeping those items as they were (and how many
# stream records each table had) and putting them back is the same rollback. moto's code runs as
# shipped; in its thread, its copy of a table is the table itself, so its own rollback is a no-op.

_in_transaction = threading.local()


class _TransactionCopy:
    """Stands for the `copy` module in moto.dynamodb.models: `deepcopy` of a Table, inside a
    transaction of this thread, is the table itself; everything else is the real `copy`."""

    def __init__(self, real: Any, table_class: type) -> None:
        self._real = real
        self._table_class = table_class

    def deepcopy(self, obj: Any, memo: Any = None) -> Any:
        if getattr(_in_transaction, "active", False) and isinstance(obj, self._table_class):
            return obj
        return self._real.deepcopy(obj, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _install_transaction_undo() -> None:
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.exceptions import (
        MockValidationException,
        MultipleTransactionsException,
        TransactionCanceledException,
    )
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    moto_transact = models.DynamoDBBackend.transact_write_items
    _replace(models, "copy", _TransactionCopy(copy, Table))

    def before(backend: Any, transact_items: list[dict[str, Any]]) -> tuple[list[Any], dict[str, Any]]:
        items: list[tuple[Any, Any, Any, Any]] = []
        streams: dict[str, tuple[Any, int]] = {}
        for action in transact_items:
            if len(action) != 1:
                continue  # moto refuses it before it writes anything
            kind, op = next(iter(action.items()))
            table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None or kind not in ("Put", "Update", "Delete"):
                continue
            source = op.get("Item") if kind == "Put" else op.get("Key")
            key_names = [name for name in (table.hash_key_attr, table.range_key_attr) if name]
            if not isinstance(source, dict) or not all(isinstance(source.get(n), dict) for n in key_names):
                continue  # a malformed key: moto refuses the action, writes nothing
            hash_value = DynamoType(source[table.hash_key_attr])
            range_value = DynamoType(source[table.range_key_attr]) if table.range_key_attr else None
            items.append(
                (table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value)))
            )
            if table.stream_shard is not None and table.name not in streams:
                streams[table.name] = (table.stream_shard, len(table.stream_shard.items))
        return items, streams

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        items, streams = before(self, transact_items)
        _in_transaction.active = True
        try:
            moto_transact(self, transact_items)
        except (TransactionCanceledException, MultipleTransactionsException, MockValidationException):
            touched = {id(table): table for table, *_ in items}.values()
            for table in touched:  # the value maps below: these tables change (counted around it)
                _bump(table)
            for table, hash_value, range_value, kept in reversed(items):
                if kept is None:
                    if table.get_item(hash_value, range_value) is not None:
                        table.delete_item(hash_value, range_value)
                elif range_value is not None:
                    table.items[hash_value][range_value] = kept
                else:
                    table.items[hash_value] = kept
            for shard, count in streams.values():
                del shard.items[count:]
            for table in touched:
                _bump(table)
            raise
        finally:
            _in_transaction.active = False

    _replace(models.DynamoDBBackend, "transact_write_items", transact_write_items)


# --- DynamoDB: one request at a time -------------------------------------------------------------
# DynamoDB makes a conditional write atomic (its check and its write), and isolates a transaction:
# no read sees a write of a transaction that is then cancelled. moto does neither across its
# request threads: it reads the item, checks the condition and writes with nothing held, so two
# conditional writes of one key can both pass their check (two claims of one version), and a
# transaction writes its actions one by one before a later action's condition cancels it (moto's
# rollback, or the undo above), visible to a read meanwhile. One lock around each DynamoDB request
# makes each request whole: serializable, which is stronger than DynamoDB (whose reads of several
# items are read-committed) but never weaker. It should cost no throughput (not measured on its
# own): a request is pure Python under the GIL either way. What it does not bring: DynamoDB's TransactionConflictException (a
# write meeting a transaction in flight is refused there; here it waits its turn).

_dynamodb_requests = threading.RLock()


def _install_dynamodb_request_lock() -> None:
    from moto.dynamodb.responses import DynamoHandler

    call_action = DynamoHandler.call_action

    def one_at_a_time(self: Any) -> Any:
        with _dynamodb_requests:
            return call_action(self)

    one_at_a_time.__wrapped__ = call_action  # type: ignore[attr-defined]
    _replace(DynamoHandler, "call_action", one_at_a_time)


# --- DynamoDB: sort the table once per call by each key's value, not by comparing DynamoTypes -----
# Table.all_items() (every Query and Scan) sorts the whole table by its keys; each comparison of two
# DynamoTypes computes both cast values (a Decimal for a number). Sorting by the cast values,
# computed once per item, is the same order: DynamoType's < is its cast value's <, its == (which
# tuple comparison uses first) also compares the type, and a table's key attributes all have the
# schema's one type. The sort is stable either way, on the same ties.


# Query does not need that sort at all: it keeps the items that match and then sorts them itself,
# by a key that holds the table's own key (Table.sorted_items: the index's keys, then the table's
# hash and range keys; a table query sorts one hash key's items by their range key), so no two
# items tie and the order it was given cannot show. Inside Query, the table's items are handed over
# unsorted: the sort of the whole table, per page of a GSI query, was most of a Query's CPU.

_unsorted = threading.local()


def _install_table_sort() -> None:
    from moto.dynamodb.models.table import Table

    moto_query = Table.query

    def all_items(self: Any) -> list[Any]:
        items = _table_items(self)
        if getattr(_unsorted, "on", False):
            return items
        return sorted(items, key=_sort_key)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        outer = getattr(_unsorted, "on", False)
        _unsorted.on = True
        try:
            return moto_query(self, *args, **kwargs)
        finally:
            _unsorted.on = outer

    _replace(Table, "all_items", all_items)
    _replace(Table, "query", query)


# --- DynamoDB: a GSI query starts from the items holding its hash key's value ----------------------
# A Query on a global secondary index walks every item of the table to find those whose index hash
# key equals the query's: a page of a pending-index query cost as much as the whole table, and the
# validator's paging through tens of thousands of rows became quadratic. Here each table keeps, per
# attribute name, a map from value to the items holding it, built on first use and kept while the
# table is not written. Every write path moto has for an item (Table.put_item and delete_item, the
# backend's update_item, which transactions and batch writes go through, PartiQL statements, and the
# transaction undo above) counts the table's generation up before and after it writes; a map is
# used only if it was built within one generation and that generation is still current, so a write
# that overlaps a query (moto serves requests in threads) never leaves a stale map in use. The
# query then walks only the items of that value (and any whose value cannot be a dict key), and
# moto checks each condition itself as before, so a superset could not change the answer.

_GENERATION = "_patched_generation"
_VALUE_MAPS = "_patched_value_maps"


def _bump(table: Any) -> None:
    table.__dict__[_GENERATION] = table.__dict__.get(_GENERATION, 0) + 1


def _value_map(table: Any, attribute: str) -> tuple[dict[Any, list[Any]], list[Any]] | None:
    """(value -> items, items whose value is not hashable) for `attribute`, or None while writing."""
    generation = table.__dict__.get(_GENERATION, 0)
    maps: dict[str, tuple[int, dict[Any, list[Any]], list[Any]]] = table.__dict__.setdefault(_VALUE_MAPS, {})
    kept = maps.get(attribute)
    if kept is not None and kept[0] == generation:
        return kept[1], kept[2]
    by_value: dict[Any, list[Any]] = {}
    odd: list[Any] = []
    for item in _table_items(table):
        value = item.attrs.get(attribute)
        if value is None:
            continue
        try:
            by_value.setdefault(value, []).append(item)
        except TypeError:  # a list, map or set: no dict key; always a candidate
            odd.append(item)
    if table.__dict__.get(_GENERATION, 0) != generation:
        return None  # written meanwhile: this map may be half old
    maps[attribute] = (generation, by_value, odd)
    return by_value, odd


def _install_index_candidates() -> None:
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    def counting(write: Callable[..., Any], table_of: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            tables = table_of(self, *args, **kwargs)
            for table in tables:
                _bump(table)
            try:
                return write(self, *args, **kwargs)
            finally:
                for table in tables:
                    _bump(table)

        wrapper.__wrapped__ = write  # type: ignore[attr-defined]
        return wrapper

    def itself(table: Any, *_: Any, **__: Any) -> list[Any]:
        return [table]

    def named(backend: Any, table_name: Any = None, *_: Any, **kwargs: Any) -> list[Any]:
        table = backend.tables.get(kwargs.get("table_name", table_name))
        return [table] if table is not None else []

    def every(backend: Any, *_: Any, **__: Any) -> list[Any]:
        return list(backend.tables.values())

    _replace(Table, "put_item", counting(Table.put_item, itself))
    _replace(Table, "delete_item", counting(Table.delete_item, itself))
    _replace(models.DynamoDBBackend, "update_item", counting(models.DynamoDBBackend.update_item, named))
    for statement in ("execute_statement", "execute_transaction", "batch_execute_statement"):
        write = getattr(models.DynamoDBBackend, statement)
        _replace(models.DynamoDBBackend, statement, counting(write, every))

    moto_all_items = Table.all_items  # the sort patch's, or moto's
    moto_query = Table.query

    def all_items(self: Any) -> list[Any]:
        wanted = getattr(_candidates, "wanted", None)
        if wanted is not None and wanted[0] is self:
            found = _value_map(self, wanted[1])
            if found is not None:
                by_value, odd = found
                try:
                    matching = by_value.get(wanted[2], [])
                except TypeError:
                    matching = []
                    odd = [item for items in by_value.values() for item in items] + odd
                return [*matching, *odd]
        return moto_all_items(self)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[7] if len(args) > 7 else None)
        conditions = kwargs.get("hash_key_conditions") or []
        outer = getattr(_candidates, "wanted", None)
        _candidates.wanted = (self, conditions[0][0], conditions[0][1]) if index_name and conditions else None
        try:
            return moto_query(self, *args, **kwargs)
        finally:
            _candidates.wanted = outer

    _replace(Table, "all_items", all_items)
    _replace(Table, "query", query)


_candidates = threading.local()


def _table_items(table: Any) -> list[Any]:
    """Every item of a table, unsorted: moto's Table.all_items before its sort. The table's dicts
    are copied first: a request thread may add to them meanwhile."""
    if not table.range_key_attr:
        return list(table.items.values())
    return [item for hash_set in list(table.items.values()) for item in list(hash_set.values())]


def _cast(value: Any) -> Any:
    # DynamoType.cast_value, whose last case is a string's own value.
    return value.value if value.type == "S" else value.cast_value


def _sort_key(item: Any) -> Any:
    return (_cast(item.hash_key), _cast(item.range_key)) if item.range_key else _cast(item.hash_key)


# --- DynamoDB: project an item onto top-level attributes without converting all of it per name ---
# Item.project (a ProjectionExpression, a KEYS_ONLY or INCLUDE index) converts the *whole* item to
# plain Python once per projected name, finds the name in it and converts the result back. When
# every name is a top-level attribute (no "a.b", no "a[1]"), the result is each named attribute's
# own conversion there and back, in the order of the names (a repeated name keeps its first
# place): converting only those is the same item.


def _install_projection() -> None:
    import re

    from moto.dynamodb.models import dynamo_type

    moto_project = dynamo_type.Item.project
    list_expression = re.compile(r"(.+)\[(\d+)\]$")  # find_nested_key's test for "a[1]"

    def project(self: Any, projection_expressions: list[list[str]]) -> Any:
        names: list[str] = []
        for expression in projection_expressions:
            if (
                len(expression) != 1
                or not isinstance(expression[0], str)
                or list_expression.match(expression[0])
            ):
                return moto_project(self, projection_expressions)
            names.append(expression[0])
        result: dict[str, Any] = {}
        for name in names:
            if name in self.attrs and name not in result:
                result[name] = dynamo_type.deserializer.deserialize(self.attrs[name].to_regular_json())
        # Item(hash_key, range_key, attrs) as moto builds it, its attributes put in one by one with
        # LimitedSizeDict's check made against a running sum (Item.__init__ sums the whole item again
        # for every attribute: quadratic in a ledger part's many attributes).
        projected = dynamo_type.Item(hash_key=self.hash_key, range_key=self.range_key, attrs={})
        _fill_limited(projected.attrs, dynamo_type.serializer.serialize(result)["M"].items())
        return projected

    _replace(dynamo_type.Item, "project", project)


def _fill_limited(attrs: Any, wire: Iterable[tuple[str, Any]]) -> None:
    """`attrs[name] = DynamoType(value)` for each pair, in order, into an empty LimitedSizeDict,
    refusing as its __setitem__ would, without summing the whole dict again at each pair."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    limited = _LimitedSum(attrs)
    for name, value in wire:
        limited.set(name, DynamoType(value))


# --- serializing AttributeValues: pick the one member present instead of asking for all ten -------
# moto's JSON serializer writes a structure by asking its attribute picker, for each member of the
# shape, every alias the member could go by (six alias providers, each name also snake_cased).
# DynamoDB's AttributeValue has ten members and a value sets exactly one: a response of 100 items
# of 7 attributes asks ~14,000 times. A value that is a dict with a single key naming a member is
# written here as moto writes it: the member's own serialization (moto's code) of that value, the
# other members absent. That holds when no alias of any member is another member's name (checked
# for each such shape, with moto's own picker, before it takes this path) and the picker is
# moto's default one without response transformers (checked per call); else moto's path.

_value_shapes: dict[int, tuple[Any, bool]] = {}  # id(shape) -> (shape, takes the short path)


def _single_member_structure(shape: Any, picker: Any) -> bool:
    known = _value_shapes.get(id(shape))
    if known is not None and known[0] is shape:
        return known[1]
    from moto.core.serialize import AttributePickerContext

    members = dict(shape.members)
    for member_shape in members.values():
        member_shape.parent = shape  # as moto's structure serializer sets it before picking
    ok = shape.type_name == "structure" and not shape.is_document_type and len(members) > 1
    for name, member_shape in members.items() if ok else ():
        context = AttributePickerContext(obj={}, key=name, shape=member_shape)
        aliases = set(picker.get_possible_keys(context))
        if name not in aliases or aliases & (set(members) - {name}):
            ok = False
    _value_shapes[id(shape)] = (shape, ok)
    return ok


def _install_value_serializer() -> None:
    from moto.core.serialize import DEFAULT_ALIAS_PROVIDERS, BaseJSONSerializer, XFormedAttributePicker

    moto_structure = BaseJSONSerializer._serialize_type_structure

    def serialize_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        picker = self._value_picker
        if (
            key
            and type(value) is dict
            and len(value) == 1
            and shape.name == "AttributeValue"
            and type(picker) is XFormedAttributePicker
            and not picker.response_transformers
            and picker.alias_providers == DEFAULT_ALIAS_PROVIDERS
            and _single_member_structure(shape, picker)
        ):
            ((member, inner),) = value.items()
            members = shape.members
            if member in members:
                wrapper = self.MAP_TYPE()
                for member_shape in members.values():
                    member_shape.parent = shape
                if inner is not None:
                    self._serialize(wrapper, inner, members[member], member)
                self._default_serialize(serialized, wrapper, shape, key)
                return
        moto_structure(self, serialized, value, shape, key)

    _replace(BaseJSONSerializer, "_serialize_type_structure", serialize_structure)


# --- the patches and what each relies on ------------------------------------------------------

_SQS = "moto.sqs.models"
_DDB_PARSING = "moto.dynamodb.parsing"

PATCHES: tuple[Patch, ...] = (
    Patch(
        "routing: moto's module list read once",
        (
            ("moto.backends", "list_of_moto_modules", "4f741a10b06500e8"),
            (
                "moto.moto_server.werkzeug_app",
                "DomainDispatcherApplication.get_backend_for_host",
                "1f41972c1e4e660f",
            ),
        ),
        _install_routing,
    ),
    Patch(
        "sqs: time.time() clock",
        (
            ("moto.core.utils", "unix_time", "f0576ec9e5f586e5"),
            ("moto.core.utils", "unix_time_millis", "7a37e1337d02962e"),
        ),
        _install_clock,
    ),
    Patch(
        "sqs: queue counts only when asked",
        (
            (_SQS, "Queue.approximate_number_of_messages", "d357a9506a56d2f8"),
            (_SQS, "Queue.approximate_number_of_messages_not_visible", "5dbecc4dda174358"),
            (_SQS, "Queue.approximate_number_of_messages_delayed", "c3c1dadb0c42ed5f"),
            (_SQS, "Queue.messages", "03a531dbcbcf9aee"),
            (_SQS, "Queue.attributes", "40cb990b121628d5"),
            (_SQS, "Queue.add_message", "f27c9231c1f20433"),
            (_SQS, "SQSBackend.send_message", "bf161af09a9e6b86"),
            (_SQS, "SQSBackend.send_message_batch", "0707ad219481c867"),
            (_SQS, "SQSBackend._validate_message", "39cb57c19e596164"),
            (_SQS, "SQSBackend.get_queue_attributes", "58417223da457b5a"),
            (_SQS, "SQSBackend.is_message_valid_based_on_retention_period", "cca23b94a5f3af9d"),
        ),
        _install_sqs_counts,
    ),
    Patch(
        "sqs: receive, delete and change visibility without scanning the queue",
        (
            (_SQS, "SQSBackend.receive_message", "065f3e5e7d214408"),
            (_SQS, "SQSBackend.change_message_visibility", "f0e9df5f66627114"),
            (_SQS, "Queue.delete_message", "fa6fd5b9bd2cafb4"),
            (_SQS, "Queue.wait_for_messages", "58432562ccf2e13e"),
            (_SQS, "Queue.pending_message_groups", "e940658c5997f327"),
            (_SQS, "Message", "a6471a329358a203"),
        ),
        _install_sqs_receive,
    ),
    Patch(
        "sqs: receipt handles drawn in one call",
        (
            ("moto.sqs.utils", "generate_receipt_handle", "10853f98152c8dab"),
            (_SQS, "Message.mark_received", "98e7ec115c7fcb9f"),
        ),
        _install_receipt_handles,
    ),
    Patch(
        "dispatch: method names once per handler class, names converted once",
        (
            ("moto.core.utils", "method_names_from_class", "9dbac89d082b655f"),
            ("moto.core.utils", "camelcase_to_underscores", "084cdc5bab92db95"),
            ("moto.core.responses", "BaseResponse.call_action", "26076963fd17fd1a"),
        ),
        _install_dispatch_caches,
    ),
    Patch(
        "dynamodb: parse each expression string once",
        (
            (f"{_DDB_PARSING}.expressions", "UpdateExpressionParser.make", "2c00ed96d6e191f2"),
            (
                "moto.dynamodb.comparisons",
                "ConditionExpressionParser._lex_condition_expression",
                "a815288359216b2e",
            ),
            ("moto.dynamodb.comparisons", "ConditionExpressionParser._lex_one_node", "58485dd15b2f6df5"),
            ("moto.dynamodb.responses", "DynamoHandler.update_item", "638893af1afd43d2"),
            ("moto.dynamodb.models", "DynamoDBBackend.update_item", "218984588dd689a5"),
            ("moto.dynamodb.responses", "DynamoHandler.transact_write_items", "61c163fff213f33a"),
        ),
        _install_parse_cache,
    ),
    Patch(
        "dynamodb: condition trees once per expression and names",
        (
            ("moto.dynamodb.comparisons", "ConditionExpressionParser", "ba0de03156fea746"),
            ("moto.dynamodb.comparisons", "create_condition_expression_parser", "a667986752c086a5"),
            ("moto.dynamodb.comparisons", "get_filter_expression", "0bb9e2d345c7f17f"),
        ),
        _install_condition_cache,
    ),
    Patch(
        "dynamodb: copy and walk expression trees directly, structural checks once per shape",
        (
            (f"{_DDB_PARSING}.ast_nodes", "", "ab97413e907e4054"),
            (f"{_DDB_PARSING}.validators", "Validator", "550a62418ff7b224"),
            (f"{_DDB_PARSING}.validators", "UpdateExpressionValidator", "331b3222d0267489"),
            (f"{_DDB_PARSING}.validators", "ActionCountValidator", "3fe995f04a9c4a2d"),
            (f"{_DDB_PARSING}.validators", "OverlappingPathsValidator", "27f48a77a1762303"),
            (f"{_DDB_PARSING}.validators", "UpdateHashRangeKeyValidator", "18ca06e4b0d82e64"),
        ),
        _install_validation,
    ),
    Patch(
        "dynamodb: a simple update expression validated once per shape of its values",
        (
            (f"{_DDB_PARSING}.validators", "", "345c1740c0c674a7"),
            (f"{_DDB_PARSING}.ast_nodes", "", "ab97413e907e4054"),
            ("moto.dynamodb.models.dynamo_type", "DynamoType.__init__", "7c6cde92e1149bfe"),
        ),
        _install_simple_update_cache,
    ),
    Patch(
        "dynamodb: a simple update applied as moto's executors apply it",
        (
            (f"{_DDB_PARSING}.executors", "", "a3321981850c93b6"),
            (f"{_DDB_PARSING}.ast_nodes", "", "ab97413e907e4054"),
            ("moto.dynamodb.models", "DynamoDBBackend.update_item", "218984588dd689a5"),
            ("moto.dynamodb.models.dynamo_type", "LimitedSizeDict", "c956079ac9554f8b"),
        ),
        _install_simple_update_plans,
    ),
    Patch(
        "dynamodb: transactions keep the items they touch, not copies of their tables",
        (
            ("moto.dynamodb.models", "DynamoDBBackend.transact_write_items", "81db2cb7d94e39c9"),
            ("moto.dynamodb.models.table", "Table.get_item", "b08e98fe37b7e583"),
            ("moto.dynamodb.models.table", "Table.delete_item", "1594f7b07616c8cb"),
            ("moto.dynamodb.models.table", "Table.put_item", "de23933013ef8426"),
            ("moto.dynamodb.models.table", "StreamShard.add", "357dc6da267e5dd7"),
        ),
        _install_transaction_undo,
    ),
    Patch(
        "dynamodb: one request at a time (atomic conditional writes, isolated transactions)",
        (("moto.dynamodb.responses", "DynamoHandler.call_action", "ce5f57cf83cde340"),),
        _install_dynamodb_request_lock,
    ),
    Patch(
        "dynamodb: sort by cast key values; no sort of the whole table inside Query",
        (
            ("moto.dynamodb.models.table", "Table.all_items", "c80d2ee3c896acd0"),
            ("moto.dynamodb.models.dynamo_type", "DynamoType.__lt__", "44033f9fbd16ab92"),
            ("moto.dynamodb.models.dynamo_type", "DynamoType.__eq__", "48f12362c49f00c1"),
            ("moto.dynamodb.models.dynamo_type", "DynamoType.cast_value", "135da387dfcc7c1c"),
            ("moto.dynamodb.models.table", "Table.query", "002b4d00be6df07c"),
            ("moto.dynamodb.models.table", "Table.sorted_items", "216dac1cd6b659d2"),
            ("moto.dynamodb.models.table", "Table._generate_attr_to_sort_by", "afef70e159fa8cb5"),
        ),
        _install_table_sort,
    ),
    Patch(
        "dynamodb: a GSI query starts from the items holding its hash key's value",
        (
            ("moto.dynamodb.models.table", "Table.query", "002b4d00be6df07c"),
            ("moto.dynamodb.models.table", "Table.put_item", "de23933013ef8426"),
            ("moto.dynamodb.models.table", "Table.delete_item", "1594f7b07616c8cb"),
            ("moto.dynamodb.models", "DynamoDBBackend.update_item", "218984588dd689a5"),
            ("moto.dynamodb.models", "DynamoDBBackend.put_item", "f5d9a5042c77b89e"),
            ("moto.dynamodb.models", "DynamoDBBackend.delete_item", "083a4bb1af18f6fd"),
            ("moto.dynamodb.models", "DynamoDBBackend.batch_write_item", "30550d960a97149b"),
            ("moto.dynamodb.models", "DynamoDBBackend.transact_write_items", "81db2cb7d94e39c9"),
            ("moto.dynamodb.models", "DynamoDBBackend.execute_statement", "6579d0ba9df2be56"),
            ("moto.dynamodb.models", "DynamoDBBackend.execute_transaction", "fb99f0a62961f594"),
            ("moto.dynamodb.models", "DynamoDBBackend.batch_execute_statement", "38c6c9a4879131bd"),
            ("moto.dynamodb.models.dynamo_type", "DynamoType.__hash__", "4d37bb816dede322"),
        ),
        _install_index_candidates,
    ),
    Patch(
        "dynamodb: project top-level names directly",
        (
            ("moto.dynamodb.models.dynamo_type", "Item.project", "f411e6d8b56886f4"),
            ("moto.dynamodb.models.dynamo_type", "Item.__init__", "d9c12b62cb921831"),
            ("moto.dynamodb.models.dynamo_type", "LimitedSizeDict", "c956079ac9554f8b"),
            ("moto.dynamodb.models.dynamo_type", "Item.to_regular_json", "866aafe440d99a25"),
            ("moto.dynamodb.models.utilities", "find_nested_key", "66e7b1b00236a811"),
            ("botocore.utils", "merge_dicts", "e37c91dbbe97c54f"),
        ),
        _install_projection,
    ),
    Patch(
        "serializer: AttributeValue by its one member",
        (
            ("moto.core.serialize", "BaseJSONSerializer._serialize_type_structure", "36873909cd0aeb4d"),
            ("moto.core.serialize", "ResponseSerializer._serialize_type_structure", "f9b47068f40ce489"),
            ("moto.core.serialize", "ResponseSerializer._serialize_structure_member", "437fdce43aa5ac84"),
            ("moto.core.serialize", "ResponseSerializer.get_value", "5ac16904b91c2935"),
            ("moto.core.serialize", "AttributePicker", "de1006e71db016d4"),
            ("moto.core.serialize", "XFormedAttributePicker", "198e800d0a4d84e4"),
            ("moto.core.utils", "get_value", "9b06b87ce416131e"),
            ("moto.core.utils", "_get_value_for_key", "563aa7bc75bd5bb0"),
        ),
        _install_value_serializer,
    ),
)
