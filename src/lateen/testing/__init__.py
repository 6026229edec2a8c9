"""lateen.testing"""
