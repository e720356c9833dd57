// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title AuditRegistry
/// @notice k-of-n approvals of a model by registered auditors, readable by anyone.
/// @dev An approval names a model digest, the digest of the policy the model passed
///      and the root of the fairtrail checkpoint the auditor checked. A model is approved
///      once `threshold` distinct current auditors hold an active approval of the same
///      (model, policy). Counts are taken at read time against the current auditor set
///      and threshold, so removing an auditor or raising k takes effect at once, and a
///      deployment pipeline asks the chain, not the log operator, whether it may ship.
contract AuditRegistry {
    struct Approval {
        bytes32 checkpointRoot;
        uint64 approvedAt;
        uint32 generation;
        bool active;
    }

    address public owner;
    uint256 public threshold;
    uint256 public auditorCount;
    mapping(address => bool) public isAuditor;
    /// @dev Bumped when an auditor is removed: approvals from an earlier generation no
    ///      longer count, even if the same address is added again later.
    mapping(address => uint32) public generation;

    mapping(bytes32 => mapping(bytes32 => mapping(address => Approval))) private _approvals;
    mapping(bytes32 => mapping(bytes32 => address[])) private _approvers;
    mapping(bytes32 => bytes32[]) private _policies;

    /// @notice A model's reputation points (0-10000, its fairtrail score in basis points),
    ///         awarded by an auditor only while a quorum approves the model under the
    ///         named policy. Non-transferable: nothing moves points between models or
    ///         accounts; a newer award replaces the last one.
    mapping(bytes32 => uint256) public points;
    /// @notice The fairtrail checkpoint root the latest award's score was computed at.
    mapping(bytes32 => bytes32) public pointsCheckpoint;

    event AuditorAdded(address indexed auditor);
    event AuditorRemoved(address indexed auditor);
    event ThresholdChanged(uint256 previousThreshold, uint256 newThreshold);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Approved(
        bytes32 indexed modelDigest,
        bytes32 indexed policyDigest,
        address indexed auditor,
        bytes32 checkpointRoot
    );
    event Revoked(bytes32 indexed modelDigest, bytes32 indexed policyDigest, address indexed auditor);
    event PointsAwarded(
        bytes32 indexed modelDigest,
        bytes32 indexed policyDigest,
        address indexed auditor,
        uint256 points,
        bytes32 checkpointRoot
    );

    modifier onlyOwner() {
        require(msg.sender == owner, "AuditRegistry: caller is not the owner");
        _;
    }

    modifier onlyAuditor() {
        require(isAuditor[msg.sender], "AuditRegistry: caller is not an auditor");
        _;
    }

    constructor(address[] memory auditors, uint256 k) {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        for (uint256 i = 0; i < auditors.length; i++) {
            _addAuditor(auditors[i]);
        }
        _setThreshold(k);
    }

    function approve(bytes32 modelDigest, bytes32 policyDigest, bytes32 checkpointRoot)
        external
        onlyAuditor
    {
        require(modelDigest != bytes32(0), "AuditRegistry: empty model digest");
        require(policyDigest != bytes32(0), "AuditRegistry: empty policy digest");
        require(checkpointRoot != bytes32(0), "AuditRegistry: empty checkpoint root");
        Approval storage a = _approvals[modelDigest][policyDigest][msg.sender];
        require(!_counts(a, msg.sender), "AuditRegistry: already approved");
        if (a.approvedAt == 0) {
            if (_approvers[modelDigest][policyDigest].length == 0) {
                _policies[modelDigest].push(policyDigest);
            }
            _approvers[modelDigest][policyDigest].push(msg.sender);
        }
        a.checkpointRoot = checkpointRoot;
        a.approvedAt = uint64(block.timestamp);
        a.generation = generation[msg.sender];
        a.active = true;
        emit Approved(modelDigest, policyDigest, msg.sender, checkpointRoot);
    }

    function revoke(bytes32 modelDigest, bytes32 policyDigest) external onlyAuditor {
        Approval storage a = _approvals[modelDigest][policyDigest][msg.sender];
        require(_counts(a, msg.sender), "AuditRegistry: no active approval");
        a.active = false;
        emit Revoked(modelDigest, policyDigest, msg.sender);
    }

    /// @notice Active approvals of (model, policy) by current auditors.
    function approvalCount(bytes32 modelDigest, bytes32 policyDigest)
        public
        view
        returns (uint256 count)
    {
        address[] storage approvers = _approvers[modelDigest][policyDigest];
        for (uint256 i = 0; i < approvers.length; i++) {
            address who = approvers[i];
            if (isAuditor[who] && _counts(_approvals[modelDigest][policyDigest][who], who)) {
                count++;
            }
        }
    }

    function isApprovedFor(bytes32 modelDigest, bytes32 policyDigest) public view returns (bool) {
        return approvalCount(modelDigest, policyDigest) >= threshold;
    }

    /// @notice True once k distinct current auditors approved the model under one policy.
    function isApproved(bytes32 modelDigest) external view returns (bool) {
        bytes32[] storage policies = _policies[modelDigest];
        for (uint256 i = 0; i < policies.length; i++) {
            if (isApprovedFor(modelDigest, policies[i])) {
                return true;
            }
        }
        return false;
    }

    /// @notice Award `score` points (at most 10000) to a model a quorum approves under
    ///         `policyDigest`, computed from the log at `checkpointRoot`.
    function awardPoints(bytes32 modelDigest, bytes32 policyDigest, uint256 score, bytes32 checkpointRoot)
        external
        onlyAuditor
    {
        require(score <= 10000, "AuditRegistry: points are at most 10000");
        require(isApprovedFor(modelDigest, policyDigest), "AuditRegistry: no quorum approves the model");
        points[modelDigest] = score;
        pointsCheckpoint[modelDigest] = checkpointRoot;
        emit PointsAwarded(modelDigest, policyDigest, msg.sender, score, checkpointRoot);
    }

    function approvalOf(bytes32 modelDigest, bytes32 policyDigest, address auditor)
        external
        view
        returns (bytes32 checkpointRoot, uint64 approvedAt, bool active)
    {
        Approval storage a = _approvals[modelDigest][policyDigest][auditor];
        return (a.checkpointRoot, a.approvedAt, isAuditor[auditor] && _counts(a, auditor));
    }

    function addAuditor(address auditor) external onlyOwner {
        _addAuditor(auditor);
    }

    function removeAuditor(address auditor) external onlyOwner {
        require(isAuditor[auditor], "AuditRegistry: not an auditor");
        require(auditorCount - 1 >= threshold, "AuditRegistry: would leave fewer auditors than k");
        isAuditor[auditor] = false;
        generation[auditor] += 1;
        auditorCount--;
        emit AuditorRemoved(auditor);
    }

    function setThreshold(uint256 k) external onlyOwner {
        _setThreshold(k);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0), "AuditRegistry: new owner is the zero address");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function _addAuditor(address auditor) private {
        require(auditor != address(0), "AuditRegistry: auditor is the zero address");
        require(!isAuditor[auditor], "AuditRegistry: already an auditor");
        isAuditor[auditor] = true;
        auditorCount++;
        emit AuditorAdded(auditor);
    }

    function _counts(Approval storage a, address who) private view returns (bool) {
        return a.active && a.generation == generation[who];
    }

    function _setThreshold(uint256 k) private {
        require(k >= 1 && k <= auditorCount, "AuditRegistry: threshold must be 1..auditorCount");
        emit ThresholdChanged(threshold, k);
        threshold = k;
    }
}
