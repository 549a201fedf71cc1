"""Topology of the three-tier supply network: which node makes, supplies and sells which product.

Kept apart from the simulator so that the assignment rules (and their invariants: every product
has exactly one manufacturer and one supplier, every node has at least one product) can be read
and tested on their own. Everything here is deterministic: the same sizes always give the same
network, so that a scale in the spec names one fixed network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TIERS = ("supplier", "manufacturer", "retailer")


@dataclass(frozen=True)
class Link:
    """A directed shipping lane between two nodes, carrying a fixed set of products.

    ``products`` are global product indices (int64, sorted). One shipment on a link carries a
    vector of quantities for these products, so the simulator schedules one event per link and
    route and day rather than one per unit or product.
    """

    upstream: int
    downstream: int
    products: np.ndarray


@dataclass(frozen=True)
class Network:
    """Supplier -> manufacturer -> retailer network with a deterministic product assignment.

    Assignment (round-robin, so loads differ by at most one product between nodes of a tier):

    * product ``p`` is made by manufacturer ``m(p) = p mod M``;
    * its raw material comes from supplier ``s(p) = (m(p) + p div M) mod S``, i.e. each
      manufacturer's k-th product goes to the next supplier in turn, starting at its own index,
      so that every manufacturer with at least ``S`` products buys from every supplier and every
      supplier serves several manufacturers;
    * every retailer sells every product (and orders it from ``m(p)``).
    """

    n_suppliers: int
    n_manufacturers: int
    n_retailers: int
    n_products: int
    product_manufacturer: np.ndarray
    product_supplier: np.ndarray
    supplier_products: tuple[np.ndarray, ...]
    manufacturer_products: tuple[np.ndarray, ...]
    supply_links: tuple[Link, ...]
    distribution_links: tuple[Link, ...]

    @property
    def agents(self) -> tuple[str, ...]:
        """Agent ids, upstream tier first: ``supplier_i``, ``manufacturer_j``, ``retailer_k``."""
        return (tuple(f"supplier_{i}" for i in range(self.n_suppliers))
                + tuple(f"manufacturer_{j}" for j in range(self.n_manufacturers))
                + tuple(f"retailer_{k}" for k in range(self.n_retailers)))

    @property
    def n_agents(self) -> int:
        return self.n_suppliers + self.n_manufacturers + self.n_retailers

    def manufacturer_suppliers(self, m: int) -> np.ndarray:
        """Suppliers that manufacturer ``m`` buys from (sorted)."""
        return np.unique(self.product_supplier[self.manufacturer_products[m]])


def parse_agent(agent: str) -> tuple[str, int]:
    """Split an agent id such as ``manufacturer_3`` into (tier, index)."""
    tier, _, idx = agent.rpartition("_")
    if tier not in TIERS or not idx.isdigit():
        raise ValueError(f"unknown agent id {agent!r}: expected '<tier>_<index>' with tier in {TIERS}")
    return tier, int(idx)


def build_network(n_suppliers: int, n_manufacturers: int, n_retailers: int,
                  n_products: int) -> Network:
    """Build the network for the given tier sizes (counts of nodes and product types).

    Raises ValueError if any count is below 1 or if there are fewer products than suppliers or
    manufacturers (a node without products would be an agent with nothing to decide).
    """
    for name, value in (("n_suppliers", n_suppliers), ("n_manufacturers", n_manufacturers),
                        ("n_retailers", n_retailers), ("n_products", n_products)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if n_products < max(n_suppliers, n_manufacturers):
        raise ValueError(f"n_products ({n_products}) must be at least n_suppliers ({n_suppliers}) and "
                         f"n_manufacturers ({n_manufacturers}) so that every node has a product; "
                         "raise n_products or use fewer nodes")
    S, M, R, P = int(n_suppliers), int(n_manufacturers), int(n_retailers), int(n_products)
    prods = np.arange(P, dtype=np.int64)
    p_m = prods % M
    p_s = (p_m + prods // M) % S
    sup_products = tuple(np.flatnonzero(p_s == s).astype(np.int64) for s in range(S))
    man_products = tuple(np.flatnonzero(p_m == m).astype(np.int64) for m in range(M))
    if any(len(x) == 0 for x in sup_products):
        # cannot happen with the rule above when P >= max(S, M); kept as a guard for edits
        raise ValueError("every supplier needs a product; raise n_products")
    supply = []
    for s in range(S):
        for m in range(M):
            shared = np.flatnonzero((p_s == s) & (p_m == m)).astype(np.int64)
            if len(shared):
                supply.append(Link(s, m, shared))
    distribution = tuple(Link(m, r, man_products[m]) for m in range(M) for r in range(R))
    return Network(S, M, R, P, p_m, p_s, sup_products, man_products, tuple(supply), distribution)
