// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title FairtrailAnchor
/// @notice Public, append-only record of transparency-log checkpoints.
/// @dev One transaction per checkpoint, whatever the number of entries it covers.
///      Per log only the latest head is kept in storage, packed into one slot:
///      the tree size (64 bits) and the first 192 bits of the root. The full root is
///      in the `Anchored` event. A size not larger than the stored one is refused, so
///      once a size is anchored, no other root for it (or for any smaller size) can
///      ever land: an operator who forks the log cannot anchor the fork.
///      Budget: <= 50,000 gas per call, including the first anchor of a log.
contract FairtrailAnchor {
    address public owner;
    mapping(address => bool) public isSubmitter;
    /// @dev logId => (size << 192) | uint192(root >> 64)
    mapping(bytes32 => uint256) private _heads;

    event Anchored(bytes32 indexed logId, uint64 indexed size, bytes32 root, address submitter);
    event SubmitterAdded(address indexed submitter);
    event SubmitterRemoved(address indexed submitter);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    modifier onlyOwner() {
        require(msg.sender == owner, "FairtrailAnchor: caller is not the owner");
        _;
    }

    constructor(address[] memory submitters) {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        for (uint256 i = 0; i < submitters.length; i++) {
            _addSubmitter(submitters[i]);
        }
    }

    /// @notice Anchor checkpoint (size, root) of the log `logId` (SHA-256 of its origin).
    function anchor(bytes32 logId, uint64 size, bytes32 root) external {
        require(isSubmitter[msg.sender], "FairtrailAnchor: caller is not a submitter");
        require(size > uint64(_heads[logId] >> 192), "FairtrailAnchor: size not larger than last");
        _heads[logId] = (uint256(size) << 192) | (uint256(root) >> 64);
        emit Anchored(logId, size, root, msg.sender);
    }

    /// @notice The latest anchored size of a log and the first 24 bytes of its root.
    function head(bytes32 logId) external view returns (uint64 size, bytes24 rootPrefix) {
        uint256 packed = _heads[logId];
        size = uint64(packed >> 192);
        rootPrefix = bytes24(uint192(packed));
    }

    function addSubmitter(address submitter) external onlyOwner {
        _addSubmitter(submitter);
    }

    function removeSubmitter(address submitter) external onlyOwner {
        require(isSubmitter[submitter], "FairtrailAnchor: not a submitter");
        isSubmitter[submitter] = false;
        emit SubmitterRemoved(submitter);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0), "FairtrailAnchor: new owner is the zero address");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    function _addSubmitter(address submitter) private {
        require(submitter != address(0), "FairtrailAnchor: submitter is the zero address");
        require(!isSubmitter[submitter], "FairtrailAnchor: already a submitter");
        isSubmitter[submitter] = true;
        emit SubmitterAdded(submitter);
    }
}
