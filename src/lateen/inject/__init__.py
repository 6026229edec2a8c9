"""lateen.inject"""
