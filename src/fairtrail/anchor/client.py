"""One connection to one configured chain, with every failure turned into one line.

`ChainClient` checks what a careless setup gets wrong before anything is signed: the
chain id the endpoint reports must be the configured one (EIP-155), a contract must
have code at its address, and a call is simulated (`eth_estimateGas`) before it is
sent, so a transaction that would revert costs nothing and says why.

Fees are EIP-1559: `maxFeePerGas = 2 * baseFee + tip`, never above the configured cap.
A transaction that is not mined in time is replaced with the same nonce and both fee
fields raised by at least 12.5 % (geth's replacement rule), again within the cap.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import requests
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    ContractLogicError,
    TransactionNotFound,
    Web3Exception,
    Web3RPCError,
)

from fairtrail.anchor import artifacts
from fairtrail.anchor.config import LOCAL_RPC, ChainConfig
from fairtrail.anchor.wallet import load_wallet
from fairtrail.errors import ChainError

if TYPE_CHECKING:
    from fairtrail.anchor._local import LocalChain

__all__ = ["ChainClient", "Fees", "SignedTx", "to_hex"]

GWEI = 10**9
BUMP_NUM, BUMP_DEN = 1125, 1000  # +12.5 %
_T = TypeVar("_T")


@dataclass(frozen=True)
class Fees:
    max_fee: int
    priority_fee: int

    def bumped(self) -> Fees:
        return Fees(
            math.ceil(self.max_fee * BUMP_NUM / BUMP_DEN),
            math.ceil(self.priority_fee * BUMP_NUM / BUMP_DEN),
        )


@dataclass(frozen=True)
class SignedTx:
    tx_hash: str
    raw: bytes
    nonce: int
    fees: Fees
    sender: str


class ChainClient:
    """web3 on one configured chain. `root` is the trail folder (key and local chain)."""

    def __init__(self, config: ChainConfig, root: Path, *, timeout: float = 10.0) -> None:
        self.config = config
        self.root = root
        self.local: LocalChain | None = None
        if config.rpc == LOCAL_RPC:
            from fairtrail.anchor._local import LocalChain  # py-evm only when needed

            self.local = LocalChain(root / "chains" / f"{config.name}.db")
            self.web3 = self.local.web3
        else:
            self.web3 = Web3(Web3.HTTPProvider(config.rpc, request_kwargs={"timeout": timeout}))
            # web3's validation middleware asks eth_chainId before every call and send;
            # `check_chain_id` does that once per connection (EIP-155 is in the signature)
            self.web3.middleware_onion.remove("validation")
        self._chain_checked = False
        self._contracts: dict[tuple[str, str], Contract] = {}

    @classmethod
    def connect(cls, config: ChainConfig, root: Path) -> ChainClient:
        client = cls(config, root)
        try:
            client.check_chain_id()
        except BaseException:
            client.close()
            raise
        return client

    def close(self) -> None:
        if self.local is not None:
            self.local.close()
            self.local = None

    def __enter__(self) -> ChainClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save(self) -> None:
        if self.local is not None:
            self.local.save()

    # ------------------------------------------------------------------ reads

    def rpc(self, what: str, call: Callable[[], _T]) -> _T:
        """Run one RPC call; unreachable endpoints and RPC errors become a ChainError."""
        try:
            return call()
        except ChainError:
            raise
        except (ContractLogicError, TransactionFailed) as exc:
            raise ChainError(f"chain {self.config.name}: {what} reverted: {_reason(exc)}") from None
        except (requests.RequestException, OSError) as exc:
            raise self._unreachable(exc, f"during {what}") from None
        except (Web3RPCError, Web3Exception, ValueError) as exc:
            raise ChainError(f"chain {self.config.name}: {what} failed: {_short(exc)}") from None

    def _unreachable(self, exc: BaseException, during: str = "") -> ChainError:
        """The one message for an endpoint that did not answer (timeouts included)."""
        where = f" {during}" if during else ""
        return ChainError(
            f"chain {self.config.name}: RPC {self.config.rpc} unreachable{where} "
            f"({type(exc).__name__})"
        )

    def check_chain_id(self) -> None:
        if self._chain_checked:
            return
        actual = self.rpc("eth_chainId", lambda: self.web3.eth.chain_id)
        if actual != self.config.chain_id:
            raise ChainError(
                f"chain {self.config.name}: the RPC reports chain id {actual}, "
                f"the configuration says {self.config.chain_id}; refusing to sign for it"
            )
        self._chain_checked = True

    def contract(self, kind: str, address: str | None = None) -> Contract:
        """The deployed contract `kind` ('FairtrailAnchor' or 'AuditRegistry' from the
        configuration; any kind, 'RoyaltySplit' among them, at `address`)."""
        if address is None:
            address = (
                self.config.anchor_contract
                if kind == "FairtrailAnchor"
                else self.config.registry_contract
            )
        if address is None:
            raise ChainError(
                f"chain {self.config.name} has no {kind} address; "
                "deploy one with `fairtrail chain deploy`"
            )
        checksum = Web3.to_checksum_address(address)
        known = self._contracts.get((kind, checksum))
        if known is not None:
            return known
        code = self.rpc("eth_getCode", lambda: self.web3.eth.get_code(checksum))
        if not code:
            raise ChainError(
                f"chain {self.config.name}: no contract deployed at {checksum} "
                f"(chain id {self.config.chain_id})"
            )
        contract = self.web3.eth.contract(address=checksum, abi=artifacts.abi(kind))
        self._contracts[(kind, checksum)] = contract
        return contract

    def wallet(self, path: Path | None = None) -> LocalAccount:
        key = path or (self.root / self.config.key)
        return load_wallet(key)

    def block_number(self) -> int:
        return self.rpc("eth_blockNumber", lambda: self.web3.eth.block_number)

    def block_hash(self, number: int) -> str | None:
        """The canonical hash at `number`, or None if the chain is not that long (now)."""
        try:
            block = self.web3.eth.get_block(number)
        except (Web3RPCError, Web3Exception) as exc:
            if "not found" in str(exc).lower():
                return None
            raise ChainError(
                f"chain {self.config.name}: eth_getBlockByNumber: {_short(exc)}"
            ) from None
        except (requests.RequestException, OSError) as exc:
            raise self._unreachable(exc) from None
        return to_hex(block["hash"])

    def finalized_number(self) -> int | None:
        """The node's `finalized` block number, or None if it has none."""
        try:
            return int(self.web3.eth.get_block("finalized")["number"])
        except (Web3RPCError, Web3Exception, ValueError):
            return None
        except (requests.RequestException, OSError) as exc:
            raise self._unreachable(exc) from None

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        try:
            value = self.web3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        except (requests.RequestException, OSError) as exc:
            raise self._unreachable(exc) from None
        except (Web3RPCError, Web3Exception) as exc:
            if "not found" in str(exc).lower() or "unknown transaction" in str(exc).lower():
                return None
            raise ChainError(
                f"chain {self.config.name}: eth_getTransactionReceipt: {_short(exc)}"
            ) from None
        return dict(value)

    def nonce(self, address: str, block: str = "pending") -> int:
        return self.rpc(
            "eth_getTransactionCount",
            lambda: self.web3.eth.get_transaction_count(Web3.to_checksum_address(address), block),  # type: ignore[arg-type]
        )

    # ----------------------------------------------------------------- writes

    def fees(self) -> Fees:
        """Fees for a new transaction, or a ChainError if the cap is below the market."""
        block = self.rpc("eth_getBlockByNumber", lambda: self.web3.eth.get_block("latest"))
        base = int(block.get("baseFeePerGas", 0))
        tip = int(self.config.priority_fee_gwei * GWEI)
        cap = int(self.config.max_fee_gwei * GWEI)
        if base + tip > cap:
            raise ChainError(
                f"chain {self.config.name}: base fee {base / GWEI:.3f} gwei + tip exceeds the "
                f"cap of {self.config.max_fee_gwei} gwei; deferring"
            )
        return Fees(min(cap, 2 * base + tip), tip)

    def capped(self, fees: Fees) -> Fees | None:
        """`fees`, or None if they exceed the configured cap."""
        cap = int(self.config.max_fee_gwei * GWEI)
        if fees.max_fee > cap:
            return None
        return fees

    def prepare(
        self,
        call: ContractFunction,
        account: LocalAccount,
        nonce: int,
        fees: Fees | None = None,
        gas: int | None = None,
        *,
        check_funds: bool = True,
        value: int = 0,
    ) -> SignedTx:
        """Simulate, then sign `call` with `nonce` (nothing is sent); `value` wei go with it."""
        fees = fees or self.fees()
        sender = account.address
        if gas is None:
            simulated: Any = {"from": sender, "value": value}
            estimate = self.rpc(
                "simulating the transaction", lambda: call.estimate_gas(simulated)
            )
            gas = estimate + estimate // 5
        if check_funds:
            self.check_funds(sender, gas * fees.max_fee + value)
        params: Any = {
            "from": sender,
            "nonce": nonce,
            "gas": gas,
            "maxFeePerGas": fees.max_fee,
            "maxPriorityFeePerGas": fees.priority_fee,
            "chainId": self.config.chain_id,
            "value": value,
        }
        tx: Any = call.build_transaction(params)
        signed = account.sign_transaction(tx)
        return SignedTx(to_hex(signed.hash), bytes(signed.raw_transaction), nonce, fees, sender)

    def check_funds(self, sender: str, needed: int) -> None:
        """One clear line when `sender` cannot pay `needed` wei."""
        balance = self.rpc("eth_getBalance", lambda: self.web3.eth.get_balance(sender))  # type: ignore[arg-type]
        if balance < needed:
            raise ChainError(
                f"chain {self.config.name}: {sender} has {balance / 10**18:.6f} ETH, needs up to "
                f"{needed / 10**18:.6f} (gas and any value sent); fund it"
            )

    def broadcast(self, tx: SignedTx) -> None:
        """Send a signed transaction. Already-known is success (a rebroadcast)."""
        try:
            self.web3.eth.send_raw_transaction(tx.raw)
        except (requests.RequestException, OSError) as exc:
            raise self._unreachable(exc, "while sending") from None
        except (Web3RPCError, Web3Exception, ValueError) as exc:
            text = str(exc).lower()
            if "already known" in text or "already imported" in text or "known transaction" in text:
                return
            if "insufficient funds" in text or "funds for gas" in text:
                balance = self.rpc("eth_getBalance", lambda: self.web3.eth.get_balance(tx.sender))  # type: ignore[arg-type]
                raise ChainError(
                    f"chain {self.config.name}: {tx.sender} has {balance / 10**18:.6f} ETH, "
                    "not enough for gas; fund it"
                ) from None
            raise ChainError(
                f"chain {self.config.name}: the node refused the transaction: {_short(exc)}"
            ) from None
        finally:
            self.save()

    def wait(self, tx_hash: str, timeout: float = 30.0, poll: float = 0.005) -> dict[str, Any]:
        """Poll for a receipt (5 ms: web3's 0.1 s default caps anvil at ~10 tx/s)."""
        deadline = time.monotonic() + timeout
        while True:
            receipt = self.receipt(tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline:
                raise ChainError(
                    f"chain {self.config.name}: {tx_hash} not mined in {timeout:.0f} s"
                )
            time.sleep(poll)

    def transact(
        self, call: ContractFunction, account: LocalAccount, *, value: int = 0
    ) -> dict[str, Any]:
        """Simulate, sign, send and wait for one transaction; raise if it reverted."""
        tx = self.prepare(call, account, self.nonce(account.address), value=value)
        self.broadcast(tx)
        receipt = self.wait(tx.tx_hash)
        if receipt["status"] != 1:
            raise ChainError(f"chain {self.config.name}: transaction {tx.tx_hash} reverted")
        return receipt

    def deploy(self, kind: str, account: LocalAccount, *args: Any) -> str:
        """Deploy `kind` with constructor `args`; return its checksum address."""
        factory = self.web3.eth.contract(abi=artifacts.abi(kind), bytecode=artifacts.bytecode(kind))
        receipt = self.transact(factory.constructor(*args), account)  # type: ignore[arg-type]
        address = receipt.get("contractAddress")
        if not address:
            raise ChainError(f"chain {self.config.name}: deployment of {kind} made no contract")
        return str(address)


def to_hex(value: Any) -> str:
    """A chain value (bytes, HexBytes or hex text) as 0x-prefixed lower-case hex."""
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    text = str(value)
    return text if text.startswith("0x") else "0x" + text


def _reason(exc: Exception) -> str:
    message = getattr(exc, "message", None)
    text = message if isinstance(message, str) else str(exc)
    return text.removeprefix("execution reverted: ").strip() or "no reason given"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300]
