"""The ODRL usage-policy engine: parse once, decide often, explain every decision.

Pure code: nothing here touches the network, the disk, a clock or an event loop; the caller supplies the
moment, the verified claims and the usage record in a `DecisionContext`.

The engine's interface is `connector.policy.engine` (parse, evaluate, decide, trace); the package itself imports
nothing, so that a part holding only the decision seam (`seam`), the parties' names (`parties`), the wire
spelling (`spelling`) or the regions (`regions`) does not load the engine, which a node loads with the first
policy it parses or decides.
"""
