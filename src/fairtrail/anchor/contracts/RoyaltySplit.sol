// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";

/// @title RoyaltySplit
/// @notice Receives the licence fees of one model and lets each contributor withdraw
///         their recorded share (pull payments: nobody is ever pushed funds).
/// @dev Shares are fixed at deployment from the contribution statements proved under
///      one fairtrail checkpoint (its root and size are kept here, so anyone can check
///      the split against the log). Shares are basis points and must add up to 10,000.
///      A payee's entitlement is floor(totalReceived * share / 10,000); what rounding
///      leaves (at most one wei per payee and payment) stays in the contract, so the
///      sum of withdrawals never exceeds what was paid. A payee who never withdraws
///      keeps their entitlement forever; nobody else can take it.
contract RoyaltySplit is ReentrancyGuard {
    uint256 public constant TOTAL_SHARES = 10_000;

    bytes32 public immutable modelDigest;
    bytes32 public immutable checkpointRoot;
    uint64 public immutable checkpointSize;

    uint256 public totalReceived;
    uint256 public totalReleased;
    mapping(address => uint256) public shares;
    mapping(address => uint256) public released;
    address[] private _payees;

    event PaymentReceived(address indexed from, uint256 amount);
    event Withdrawn(address indexed payee, uint256 amount);

    constructor(
        bytes32 model,
        bytes32 root,
        uint64 size,
        address[] memory payees_,
        uint256[] memory basisPoints
    ) {
        require(payees_.length > 0, "RoyaltySplit: no payees");
        require(payees_.length == basisPoints.length, "RoyaltySplit: payees and shares differ");
        uint256 sum = 0;
        for (uint256 i = 0; i < payees_.length; i++) {
            address payee = payees_[i];
            require(payee != address(0), "RoyaltySplit: zero address");
            require(basisPoints[i] > 0, "RoyaltySplit: zero share");
            require(shares[payee] == 0, "RoyaltySplit: duplicate payee");
            shares[payee] = basisPoints[i];
            _payees.push(payee);
            sum += basisPoints[i];
        }
        require(sum == TOTAL_SHARES, "RoyaltySplit: shares must add up to 10000");
        modelDigest = model;
        checkpointRoot = root;
        checkpointSize = size;
    }

    receive() external payable {
        _received();
    }

    /// @notice Pay a licence fee for the model.
    function pay() external payable {
        _received();
    }

    function _received() private {
        require(msg.value > 0, "RoyaltySplit: no value");
        totalReceived += msg.value;
        emit PaymentReceived(msg.sender, msg.value);
    }

    /// @notice What `payee` may withdraw now.
    function releasable(address payee) public view returns (uint256) {
        return (totalReceived * shares[payee]) / TOTAL_SHARES - released[payee];
    }

    /// @notice Withdraw everything the caller is owed (checks, effects, then the call).
    function withdraw() external nonReentrant {
        require(shares[msg.sender] > 0, "RoyaltySplit: caller is not a payee");
        uint256 amount = releasable(msg.sender);
        require(amount > 0, "RoyaltySplit: nothing to withdraw");
        released[msg.sender] += amount;
        totalReleased += amount;
        emit Withdrawn(msg.sender, amount);
        Address.sendValue(payable(msg.sender), amount);
    }

    function payees() external view returns (address[] memory) {
        return _payees;
    }
}
